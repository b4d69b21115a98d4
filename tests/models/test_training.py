""" A few optimizer steps on real Fashion-MNIST batches lower the loss, through timm's own data and optim pieces. """
import itertools

import pytest
import timm
import torch
import torch.nn.functional as F
from timm.data import create_dataset, create_loader
from timm.models import model_entrypoint
from timm.optim import create_optimizer_v2

from timm_attnzoo.constants import FASHION_MNIST_MEAN, FASHION_MNIST_STD

from ..conftest import ZOO_MODELS, eval_model
from .test_contract import size_kwargs

NUM_BATCHES, BATCH_SIZE, STEPS = 4, 32, 40
LEARNING_RATE = 2e-3
# Models over 5M parameters (13-28M) would take most of CI's time here, so they train narrowed: the same variant,
# blocks and options at a smaller width and depth, by family. Their full sizes run forward and backward in the
# contract tests, and `attnzoo study` trains them whole.
LARGE_MODEL_PARAMS = 5_000_000
NARROWED = {
    'mixformer': dict(embed_dim=32, depths=(1, 2, 3, 2), num_heads=(1, 2, 4, 8)),
    'lambda_resnet': dict(width_factor=0.25),
    'mlp_mixer': dict(embed_dim=128, num_blocks=4),
    'tnt': dict(embed_dim=128, depth=3, num_heads_outer=4),
    'swin_transformer': dict(embed_dim=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8)),
}


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
    kwargs = size_kwargs(model_name, in_chans=1, img_size=28)
    if sum(p.numel() for p in eval_model(model_name).parameters()) > LARGE_MODEL_PARAMS:
        kwargs.update(NARROWED[model_entrypoint(model_name).__module__.rsplit('.', 1)[-1]])
    model = timm.create_model(model_name, **kwargs)
    optimizer = create_optimizer_v2(model, 'adamw', lr=LEARNING_RATE, weight_decay=0.05)
    # measured in training mode: batch norm on batch statistics, since a dozen steps cannot settle running ones
    model.train()
    before = _loss(model, fashion_mnist_batches)
    for x, y in itertools.islice(itertools.cycle(fashion_mnist_batches), STEPS):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = _loss(model, fashion_mnist_batches)
    # an untrained 10-way classifier sits at ln(10) = 2.30; a model that does not learn stays there
    assert after < 0.85 * before, f'{model_name}: loss {before:.3f} -> {after:.3f}'
