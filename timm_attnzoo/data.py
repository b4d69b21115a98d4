""" Offline data preparation: lay Debian's Fashion-MNIST out where torchvision's (and so timm's) loader reads it.

`timm.data.create_dataset('torch/fashion_mnist', root=ROOT, split='train')` reads the uncompressed IDX
files from ROOT/FashionMNIST/raw; Debian's `dataset-fashion-mnist` ships them gzipped.
"""
import gzip
import shutil
from pathlib import Path
from typing import Union

DEBIAN_FASHION_MNIST_DIR = Path('/usr/share/datasets/fashion-mnist')
FASHION_MNIST_FILES = (
    'train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')


def prepare_fashion_mnist(root: Union[str, Path], source: Union[str, Path] = DEBIAN_FASHION_MNIST_DIR) -> Path:
    """ Decompress the four IDX files from `source` into root/FashionMNIST/raw; returns root. """
    root, source = Path(root), Path(source)
    raw = root / 'FashionMNIST' / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    for name in FASHION_MNIST_FILES:
        target = raw / name
        if target.exists():
            continue
        gz = source / f'{name}.gz'
        if not gz.exists():
            raise FileNotFoundError(
                f'{gz} not found: install Debian\'s package with `apt-get install dataset-fashion-mnist` '
                f'or pass the folder holding the .gz IDX files as source.')
        partial = target.with_suffix('.partial')
        with gzip.open(gz, 'rb') as src, open(partial, 'wb') as dst:
            shutil.copyfileobj(src, dst)
        partial.replace(target)  # never leave a half-written file under the name the loader reads
    return root
