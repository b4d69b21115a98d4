""" A few optimizer steps on real Fashion-MNIST batches lower the loss, through timm's own data and optim pieces. """
import itertools

import pytest
import torch
import torch.nn.functional as F
from timm.optim import create_optimizer_v2

from ..conftest import ZOO_MODELS, fashion_mnist_model

STEPS = 40
LEARNING_RATE = 2e-3


def _loss(model, batches):
    with torch.no_grad():
        return sum(F.cross_entropy(model(x), y).item() for x, y in batches) / len(batches)


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_a_few_steps_on_fashion_mnist_lower_the_loss(model_name, fashion_mnist_batches):
    model = fashion_mnist_model(model_name)
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
