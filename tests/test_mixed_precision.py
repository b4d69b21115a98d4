""" Mixed precision: every registered model trains 20 steps under bf16 autocast on the CPU (and fp16 with a gradient
scaler on a GPU, where there is one) with finite losses and gradients, on real Fashion-MNIST batches and on batches
with blank, saturated and huge images. """
import itertools

import pytest
import torch
import torch.nn.functional as F
from timm.optim import create_optimizer_v2

from timm_attnzoo.constants import FASHION_MNIST_MEAN, FASHION_MNIST_STD

from .conftest import ZOO_MODELS, fashion_mnist_model

STEPS, BATCH_SIZE = 20, 8


def _saturated(x: torch.Tensor) -> torch.Tensor:
    """ Every pixel pushed to black or white: the ends of the normalized range. """
    mean, std = FASHION_MNIST_MEAN[0], FASHION_MNIST_STD[0]
    return ((x * std + mean > 0.5).float() - mean) / std


ADVERSARIAL = {
    'real': lambda x: x,
    'all-zero': torch.zeros_like,
    'saturated': _saturated,
    'large-magnitude': lambda x: x * 1e4,
}


def _small(fashion_mnist_batches):
    """ Two real batches of 8: bf16 matmuls have no native kernel on CI's CPU, so the steps are kept small. """
    return [(x[:BATCH_SIZE], y[:BATCH_SIZE]) for x, y in fashion_mnist_batches[:2]]


def _batches(fashion_mnist_batches):
    """ (kind, x, y): each real batch, then the batch with half its images made adversarial, for each kind in turn.

    Half, not all: a batch of nothing but blank images makes every channel of every batch-norm layer constant, and
    each such layer multiplies the gradient by 1/sqrt(eps), about 316; through resnet50_cifar's 53 of them the
    gradient at the stem reached 1.4e38 under bf16 and overflowed. That is batch norm on a constant batch, which no
    data loader produces; blank, saturated and huge images among real ones are what this tests. """
    half = BATCH_SIZE // 2
    return [(kind, torch.cat([make(x[:half]), x[half:]]), y) for x, y in fashion_mnist_batches
            for kind, make in ADVERSARIAL.items()]


def _train(model, batches, device, dtype, scaler=None):
    model.to(device).train()
    optimizer = create_optimizer_v2(model, 'adamw', lr=1e-3, weight_decay=0.05)
    for step, (kind, x, y) in enumerate(itertools.islice(itertools.cycle(batches), STEPS)):
        with torch.autocast(device.type, dtype=dtype):
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
        assert loss.isfinite(), f'step {step}, {kind} input: loss {loss.item()}'
        optimizer.zero_grad()
        if scaler is None:
            loss.backward()
            bad = [name for name, p in model.named_parameters() if p.grad is not None and not p.grad.isfinite().all()]
            assert not bad, f'step {step}, {kind} input: non-finite gradients in {bad[:5]}'
            optimizer.step()
        else:  # as train.py's NativeScaler: an overflowing step is skipped and the scale lowered
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
    bad = [name for name, p in model.named_parameters() if not p.isfinite().all()]
    assert not bad, f'non-finite weights after {STEPS} steps: {bad[:5]}'


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_twenty_bf16_autocast_steps_on_real_and_adversarial_batches_stay_finite(model_name, fashion_mnist_batches):
    _train(fashion_mnist_model(model_name), _batches(_small(fashion_mnist_batches)), torch.device('cpu'), torch.bfloat16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='fp16 autocast is a GPU test')
@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_twenty_fp16_autocast_steps_on_a_gpu_stay_finite(model_name, fashion_mnist_batches):
    _train(fashion_mnist_model(model_name), _batches(_small(fashion_mnist_batches)), torch.device('cuda'), torch.float16,
           scaler=torch.amp.GradScaler('cuda'))
