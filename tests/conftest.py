from functools import lru_cache

import pytest
import timm
import torch
from timm.models import model_entrypoint

import timm_attnzoo
from timm_attnzoo.data import DEBIAN_FASHION_MNIST_DIR, prepare_fashion_mnist

ZOO_MODELS = timm_attnzoo.list_models()
# the Perceivers' features are a latent set without a grid: no features_only, intermediates as (B, N, D)
LATENT_ARRAY_MODELS = [name for name in ZOO_MODELS if model_entrypoint(name).__module__.endswith('.perceiver')]
FEATURE_MAP_MODELS = [name for name in ZOO_MODELS if name not in LATENT_ARRAY_MODELS]


@lru_cache(maxsize=None)
def eval_model(model_name: str) -> torch.nn.Module:
    """ One shared instance of a registered model in eval mode, for tests that only run it; do not modify it. """
    torch.manual_seed(0)
    return timm.create_model(model_name).eval()


@pytest.fixture(scope='session')
def fashion_mnist_root(tmp_path_factory):
    """ Debian's Fashion-MNIST laid out for torchvision; the suite needs the real data, so its absence fails. """
    if not DEBIAN_FASHION_MNIST_DIR.exists():
        pytest.fail(f'{DEBIAN_FASHION_MNIST_DIR} is missing: run `apt-get install dataset-fashion-mnist` (scripts/setup.sh does).')
    return prepare_fashion_mnist(tmp_path_factory.mktemp('fashion_mnist'))


@pytest.fixture(scope='module')
def one_thread():
    """ torch on one thread for a module of small tensors, where a second thread only waits on whatever else
    runs on the machine (on a shared 2-core machine, for long). """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
