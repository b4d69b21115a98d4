""" A few optimizer steps on real Fashion-MNIST batches lower the loss, through timm's own data and optim pieces. """
import itertools

import pytest
import timm
import torch
import torch.nn.functional as F
from timm.data import create_dataset, create_loader
from timm.optim import create_optimizer_v2

from timm_attnzoo.constants import FASHION_MNIST_MEAN, FASHION_MNIST_STD

from ..conftest import ZOO_MODELS
from .test_contract import size_kwargs

NUM_BATCHES, BATCH_SIZE = 4, 32
STEPS, LARGE_MODEL_STEPS, LARGE_MODEL_PARAMS = 40, 16, 5_000_000  # fewer steps for the 13-33M models on CPU
LEARNING_RATE = 2e-3
# the 512-wide isotropic models take smaller steps without warmup (the seed trained TNT at 1e-4, Mixer at 1e-3);
# at 2e-3 TNT's loss does not move in 16 steps
LEARNING_RATES = {'tnt_cifar': 3e-4, 'mixer_cifar': 1e-3}


@pytest.fixture(scope='module')
def fashion_mnist_batches(fashion_mnist_root):
    dataset = create_dataset('torch/fashion_mnist', root=str(fashion_mnist_root), split='train')
    assert len(dataset) == 60000
    loader = create_loader(
        dataset, input_size=(1, 28, 28), batch_size=BATCH_SIZE, is_training=False, use_prefetcher=False,
        mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD, crop_pct=1.0, num_workers=0)
    return list(itertools.islice(loader, NUM_BATCHES))


def _loss(model, batches):
    with torch.no_grad():
        return sum(F.cross_entropy(model(x), y).item() for x, y in batches) / len(batches)


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_a_few_steps_on_fashion_mnist_lower_the_loss(model_name, fashion_mnist_batches):
    model = timm.create_model(model_name, **size_kwargs(model_name, in_chans=1, img_size=28))
    steps = STEPS if sum(p.numel() for p in model.parameters()) < LARGE_MODEL_PARAMS else LARGE_MODEL_STEPS
    optimizer = create_optimizer_v2(model, 'adamw', lr=LEARNING_RATES.get(model_name, LEARNING_RATE), weight_decay=0.05)
    # measured in training mode: batch norm on batch statistics, since a dozen steps cannot settle running ones
    model.train()
    before = _loss(model, fashion_mnist_batches)
    for x, y in itertools.islice(itertools.cycle(fashion_mnist_batches), steps):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = _loss(model, fashion_mnist_batches)
    # an untrained 10-way classifier sits at ln(10) = 2.30; a model that does not learn stays there
    assert after < 0.85 * before, f'{model_name}: loss {before:.3f} -> {after:.3f}'
