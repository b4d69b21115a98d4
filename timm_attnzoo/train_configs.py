""" The Fashion-MNIST configuration for timm's train.py of every registered model: the data set this project
trains on offline, one shared recipe, written as committed YAML by `attnzoo write-configs`. """
from pathlib import Path
from typing import List, Union

import timm

from .constants import FASHION_MNIST_MEAN, FASHION_MNIST_STD
from .registry import list_models

FASHION_MNIST_DIR = 'fashion_mnist'
FASHION_MNIST_RECIPE = """\
dataset: torch/fashion_mnist
num_classes: 10
input_size: [1, 28, 28]
mean: [{mean}]
std: [{std}]
crop_pct: 1.0
scale: [0.75, 1.0]
color_jitter: 0.0
batch_size: 128
epochs: 10
opt: adamw
lr: 1.0e-3
weight_decay: 0.05
sched: cosine
warmup_epochs: 1
smoothing: 0.1
workers: 2
""".format(mean=FASHION_MNIST_MEAN[0], std=FASHION_MNIST_STD[0])


def fashion_mnist_config(model_name: str) -> str:
    """ YAML for `python train.py -c <this> --data-dir DIR` after `attnzoo prepare-data --root DIR`. """
    fixed_size = timm.models.get_pretrained_cfg(model_name).fixed_input_size
    lines = [
        f'# {model_name} on Fashion-MNIST (1x28x28, 10 classes) with the shared recipe; written by',
        '# `attnzoo write-configs`. After `attnzoo prepare-data --root DIR`:',
        f'#   python train.py -c train_configs/{FASHION_MNIST_DIR}/{model_name}.yaml --data-dir DIR',
        'device_modules: [timm_attnzoo]',
        f'model: {model_name}',
    ]
    if fixed_size:  # train.py does not pass its image size to the model: built for 28x28 here
        lines.append('model_kwargs: {img_size: 28}')
    return '\n'.join(lines) + '\n' + FASHION_MNIST_RECIPE


def write_fashion_mnist_configs(folder: Union[str, Path]) -> List[Path]:
    """ folder/fashion_mnist/<model>.yaml for every registered model; returns the paths. """
    out = Path(folder) / FASHION_MNIST_DIR
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in list_models():
        path = out / f'{name}.yaml'
        path.write_text(fashion_mnist_config(name))
        paths.append(path)
    return paths
