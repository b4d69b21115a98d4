import itertools
from functools import lru_cache

import pytest
import timm
import torch
from timm.data import create_dataset, create_loader

import timm_attnzoo
from timm_attnzoo.constants import FASHION_MNIST_MEAN, FASHION_MNIST_STD
from timm_attnzoo.data import DEBIAN_FASHION_MNIST_DIR, prepare_fashion_mnist
from timm_attnzoo.model_families import family_of

ZOO_MODELS = timm_attnzoo.list_models()

# the Perceivers' features are a latent set without a grid: no features_only, intermediates as (B, N, D)
LATENT_ARRAY_MODELS = [name for name in ZOO_MODELS if family_of(name) == 'perceiver']
FEATURE_MAP_MODELS = [name for name in ZOO_MODELS if name not in LATENT_ARRAY_MODELS]


def pytest_addoption(parser):
    parser.addoption('--all-models', action='store_true',
                     help='tests/test_compile.py: compile every registered model, not only those CI compiles')


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


# Models over 5M parameters (13-28M) would take most of CI's time in tests that train, so they train narrowed: the
# same variant, blocks and options at a smaller width and depth, by family. Their full sizes run forward and backward
# in the contract tests, and `attnzoo study` trains them whole.
LARGE_MODEL_PARAMS = 5_000_000
NARROWED = {
    'mixformer': dict(embed_dim=32, depths=(1, 2, 3, 2), num_heads=(1, 2, 4, 8)),
    'lambda_resnet': dict(width_factor=0.25),
    'mlp_mixer': dict(embed_dim=128, num_blocks=4),
    'tnt': dict(embed_dim=128, depth=3, num_heads_outer=4),
    'swin_transformer': dict(embed_dim=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8)),
}
FASHION_MNIST_BATCH_SIZE = 32


def fashion_mnist_model(model_name: str, **kwargs) -> torch.nn.Module:
    """ The model's Fashion-MNIST tag (1x28x28, 10 classes), narrowed (`NARROWED`) when it is large. """
    if sum(p.numel() for p in eval_model(model_name).parameters()) > LARGE_MODEL_PARAMS:
        kwargs = dict(NARROWED[family_of(model_name)], **kwargs)
    return timm.create_model(f'{model_name}.fmnist_e30', **kwargs)


def fashion_mnist_train_batches(root: str, batch_size: int, count: int) -> list:
    """ The first `count` training batches of real Fashion-MNIST in order, through timm's dataset and loader,
    normalized. """
    dataset = create_dataset('torch/fashion_mnist', root=root, split='train')
    assert len(dataset) == 60000
    loader = create_loader(
        dataset, input_size=(1, 28, 28), batch_size=batch_size, is_training=False,
        use_prefetcher=False, mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD, crop_pct=1.0, num_workers=0)
    return list(itertools.islice(loader, count))


@pytest.fixture(scope='session')
def fashion_mnist_batches(fashion_mnist_root):
    """ The first 4 training batches of real Fashion-MNIST. """
    return fashion_mnist_train_batches(str(fashion_mnist_root), FASHION_MNIST_BATCH_SIZE, 4)


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
