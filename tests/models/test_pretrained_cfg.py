""" Every registered model's pretrained_cfgs: the untagged CIFAR-10 default without weights, and its Fashion-MNIST
weights' tag on the Hub under the one organisation; weights saved for one input adapt to other in_chans and
num_classes on load. """
import pytest
import timm
import torch
from timm.models import get_pretrained_cfg, save_for_hf

from timm_attnzoo.constants import FASHION_MNIST_LABELS, FASHION_MNIST_MEAN, FASHION_MNIST_STD, HF_HUB_ORGANIZATION
from timm_attnzoo.models.pretrained_cfg import FASHION_MNIST_TAG
from timm_attnzoo.train_configs import FASHION_MNIST_RECIPE

from ..conftest import LATENT_ARRAY_MODELS, ZOO_MODELS

pytestmark = pytest.mark.usefixtures('one_thread')


def test_the_tag_names_the_epochs_of_the_recipe_its_weights_are_trained_with():
    assert FASHION_MNIST_TAG == f"fmnist_e{FASHION_MNIST_RECIPE['epochs']}"


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_default_is_cifar10_without_weights_and_the_tag_is_fashion_mnist_on_the_hub(model_name):
    default = get_pretrained_cfg(model_name)
    assert default.input_size == (3, 32, 32) and not default.has_weights
    assert timm.list_pretrained(f'{model_name}.*') == [f'{model_name}.{FASHION_MNIST_TAG}']
    tagged = get_pretrained_cfg(f'{model_name}.{FASHION_MNIST_TAG}')
    assert tagged.hf_hub_id == f'{HF_HUB_ORGANIZATION}/{model_name}.{FASHION_MNIST_TAG}'
    assert (tagged.input_size, tagged.mean, tagged.std) == ((1, 28, 28), FASHION_MNIST_MEAN, FASHION_MNIST_STD)
    assert tagged.label_names == FASHION_MNIST_LABELS and tagged.num_classes == 10
    assert (tagged.first_conv, tagged.classifier) == (default.first_conv, default.classifier)


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_the_tag_builds_the_model_its_weights_fit(model_name):
    model = timm.create_model(f'{model_name}.{FASHION_MNIST_TAG}').eval()
    assert model.in_chans == 1
    with torch.no_grad():
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_weights_load_into_other_in_chans_and_num_classes(model_name, tmp_path):
    """ timm's first-conv adaptation (and the Perceiver's own, on its context projection) and classifier reset:
    a gray image repeated over 3 channels gives the 1-channel model's features, exactly for a conv stem. """
    source = timm.create_model(f'{model_name}.{FASHION_MNIST_TAG}').eval()
    save_for_hf(source, tmp_path, safe_serialization=True)
    adapted = timm.create_model(f'local-dir:{tmp_path}', pretrained=True, in_chans=3, num_classes=5).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        logits = adapted(x.expand(-1, 3, -1, -1))
        features = adapted.forward_head(adapted.forward_features(x.expand(-1, 3, -1, -1)), pre_logits=True)
        expected = source.forward_head(source.forward_features(x), pre_logits=True)
    assert logits.shape == (2, 5)
    if model_name in LATENT_ARRAY_MODELS:  # the context norm mixes pixels with positions: a start, not the same map
        assert features.shape == expected.shape and torch.isfinite(features).all()
    else:
        torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5)
