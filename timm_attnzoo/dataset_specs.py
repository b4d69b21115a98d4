""" The seeds' data sets as timm reads them: the dataset name, input size, classes and statistics that timm's
train.py and `attnzoo study` take, and the `--data-dir` each has after `attnzoo prepare-data --root DIR`.

The torch/ data sets load through torchvision inside timm's dataset factory; STL-10, Tiny ImageNet and
ImageNet-100 are class folders for timm's folder reader (no dataset name; its 'validation' split finds val/).
The folder data sets are ImageNet photographs or crops of them and use ImageNet's statistics.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import timm
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, create_dataset

from .constants import (
    CIFAR10_LABELS, CIFAR10_MEAN, CIFAR10_STD, FASHION_MNIST_LABELS, FASHION_MNIST_MEAN, FASHION_MNIST_STD, MNIST_LABELS,
    MNIST_MEAN, MNIST_STD,
)


@dataclass(frozen=True)
class DataSetSpec:
    dataset: str  # timm's dataset name; '' is the folder reader
    input_size: Tuple[int, int, int]
    num_classes: int
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    data_dir: str  # --data-dir, relative to prepare-data's --root DIR
    label_names: Optional[Tuple[str, ...]] = None  # class names in label order, where the data set fixes them

    def data_config(self, input_size: Optional[Tuple[int, int, int]] = None) -> Dict[str, Any]:
        """ timm's data config of weights trained on this data set, at `input_size` (default: the data set's). """
        return dict(input_size=tuple(input_size or self.input_size), mean=self.mean, std=self.std, crop_pct=1.0)

    def train_py_args(self) -> Dict[str, Any]:
        """ The data set's arguments of timm's train.py. """
        args = {'dataset': self.dataset} if self.dataset else {}
        return dict(
            args, num_classes=self.num_classes, input_size=list(self.input_size), mean=list(self.mean),
            std=list(self.std), crop_pct=1.0)


DATA_SETS = {
    'fashion_mnist': DataSetSpec(
        'torch/fashion_mnist', (1, 28, 28), 10, FASHION_MNIST_MEAN, FASHION_MNIST_STD, 'DIR', FASHION_MNIST_LABELS),
    'mnist': DataSetSpec('torch/mnist', (1, 28, 28), 10, MNIST_MEAN, MNIST_STD, 'DIR', MNIST_LABELS),
    'cifar10': DataSetSpec('torch/cifar10', (3, 32, 32), 10, CIFAR10_MEAN, CIFAR10_STD, 'DIR', CIFAR10_LABELS),
    'stl10': DataSetSpec('', (3, 96, 96), 10, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, 'DIR/stl10'),
    'tiny_imagenet': DataSetSpec('', (3, 64, 64), 200, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, 'DIR/tiny_imagenet'),
    'imagenet100': DataSetSpec('', (3, 224, 224), 100, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, 'DIR/imagenet100'),
}


def img_size_kwargs(model_name: str, img_size: int) -> Dict[str, Any]:
    """ img_size for a fixed-size model whose default size is not `img_size`; nothing for a model of any size. """
    cfg = timm.models.get_pretrained_cfg(model_name)
    return {'img_size': img_size} if cfg.fixed_input_size and img_size != cfg.input_size[-1] else {}


def size_kwargs(model_name: str, data_set: str) -> Dict[str, Any]:
    """ img_size for a fixed-size model whose default size is not the data set's (train.py passes no size). """
    return img_size_kwargs(model_name, DATA_SETS[data_set].input_size[-1])


def test_dataset(data_set: str, data_root: Union[str, Path]):
    """ The test split of `data_set` laid out under `data_root` by `attnzoo prepare-data`, through timm's factory. """
    spec = DATA_SETS[data_set]
    return create_dataset(spec.dataset, root=spec.data_dir.replace('DIR', str(data_root)), split='validation')


def test_image(data_set: str, data_root: Union[str, Path], index: int) -> Image.Image:
    """ Image `index` of the test split of `data_set`. """
    dataset = test_dataset(data_set, data_root)
    if not 0 <= index < len(dataset):
        raise ValueError(f'index={index} is outside the {len(dataset)} test images of {data_set}.')
    return dataset[index][0]
