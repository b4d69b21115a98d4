""" The zoo's pretrained_cfgs, and readable errors when pretrained weights cannot be loaded.

Every architecture's default (untagged) cfg is CIFAR-10's 3x32x32 input, 10 classes and statistics, without
weights. Its trained weights are tags with the data set they were trained on, e.g.
`vit_performer_cifar.fmnist_e30`: 1x28x28 Fashion-MNIST, 30 epochs of the recipe in
train_configs/fashion_mnist/, on the Hugging Face Hub as `<HF_HUB_ORGANIZATION>/vit_performer_cifar.fmnist_e30`.
`timm.create_model('vit_performer_cifar.fmnist_e30', pretrained=True)` builds the model for that input and
loads them; timm adapts the input conv to another `in_chans` and drops the classifier for another `num_classes`.
"""
import functools
from pathlib import Path
from typing import Any, Callable, Dict

import timm
from huggingface_hub import try_to_load_from_cache
from safetensors import SafetensorError
from timm.models import PretrainedCfg, resolve_pretrained_cfg

from ..constants import (
    CIFAR10_MEAN, CIFAR10_STD, FASHION_MNIST_LABELS, FASHION_MNIST_MEAN, FASHION_MNIST_STD, HF_HUB_ORGANIZATION,
)

FASHION_MNIST_TAG = 'fmnist_e30'  # the epochs of FASHION_MNIST_RECIPE (timm_attnzoo/train_configs.py)


def cifar10_cfg(**kwargs: Any) -> Dict[str, Any]:
    """ timm's pretrained_cfg for 3x32x32 CIFAR-10; a family adds its first_conv and classifier. """
    return {
        'url': '',
        'num_classes': 10,
        'input_size': (3, 32, 32),
        'pool_size': None,
        'crop_pct': 1.0,
        'interpolation': 'bicubic',
        'fixed_input_size': False,
        'mean': CIFAR10_MEAN,
        'std': CIFAR10_STD,
        'license': 'apache-2.0',
        **kwargs,
    }


def hub_repo_id(architecture: str, tag: str) -> str:
    """ The Hub repository of an architecture's weights with `tag`, under the zoo's organisation. """
    return f'{HF_HUB_ORGANIZATION}/{architecture}.{tag}'


def fashion_mnist_cfg(cfg: Dict[str, Any], hf_hub_id: str) -> Dict[str, Any]:
    """ `cfg` for weights trained on 1x28x28 Fashion-MNIST, published at `hf_hub_id`. """
    return dict(
        cfg, hf_hub_id=hf_hub_id, input_size=(1, 28, 28), pool_size=None, mean=FASHION_MNIST_MEAN,
        std=FASHION_MNIST_STD, num_classes=len(FASHION_MNIST_LABELS), label_names=FASHION_MNIST_LABELS)


def with_weight_tags(cfgs: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """ A family's cfgs for `generate_default_cfgs`: each architecture's tags of trained weights, then its untagged
    CIFAR-10 cfg marked the default with timm's '*' (it must come after them: the first tag with weights
    otherwise becomes the default, and the bare name would build a 1x28x28 model). """
    tagged = {}
    for architecture, cfg in cfgs.items():
        tagged[f'{architecture}.{FASHION_MNIST_TAG}'] = fashion_mnist_cfg(
            cfg, hub_repo_id(architecture, FASHION_MNIST_TAG))
        tagged[f'{architecture}.*'] = cfg
    return tagged


def _weights_location(cfg: PretrainedCfg) -> str:
    """ The weights file a cfg loads, as a user finds it: the file, the folder's model.safetensors, the cached download. """
    if cfg.file:
        return str(Path(cfg.file) / 'model.safetensors') if Path(cfg.file).is_dir() else cfg.file
    if cfg.hf_hub_id:
        cached = try_to_load_from_cache(cfg.hf_hub_id, 'model.safetensors')
        return f'{cached} (the cached download of {cfg.hf_hub_id})' if isinstance(cached, str) else cfg.hf_hub_id
    return cfg.url


def readable_pretrained_errors(create_fn: Callable[..., Any]) -> Callable[..., Any]:
    """ Wrap a family's `_create_<family>(variant, pretrained, **kwargs)` so that pretrained=True without weights
    names the tags that have them, and damaged weights (a truncated or corrupted safetensors file) or weights of
    another architecture are a ValueError naming the file and what to do, not safetensors' header error or
    load_state_dict's list of keys. """
    @functools.wraps(create_fn)
    def create(variant: str, pretrained: bool = False, **kwargs: Any) -> Any:
        if not pretrained:
            return create_fn(variant, pretrained, **kwargs)
        cfg = resolve_pretrained_cfg(
            variant, pretrained_cfg=kwargs.get('pretrained_cfg'), pretrained_cfg_overlay=kwargs.get('pretrained_cfg_overlay'))
        if not (cfg.has_weights or cfg.state_dict is not None):
            raise ValueError(
                f'{variant} has no pretrained weights of its own (its default is the CIFAR-10 architecture); weights '
                f'are tags: {", ".join(timm.list_pretrained(f"{variant}.*"))}, e.g. '
                f'timm.create_model("{variant}.{FASHION_MNIST_TAG}", pretrained=True).')
        try:
            return create_fn(variant, pretrained, **kwargs)
        except SafetensorError as error:
            location = _weights_location(cfg)
            raise ValueError(
                f'The pretrained weights of {variant} at {location} are not a complete safetensors file ({error}). '
                f'The file is truncated or corrupted: delete it and download or export it again.') from error
        except RuntimeError as error:
            if 'Error(s) in loading state_dict' not in str(error):
                raise
            details = ' '.join(str(error).split('\n', 1)[-1].split())
            raise ValueError(
                f'The weights at {_weights_location(cfg)} are not weights of {variant}: they were trained for another '
                f'architecture or other model arguments ({details[:400]}). Load them with the architecture they were '
                f'exported from: timm.create_model("local-dir:<folder>", pretrained=True) reads it from their '
                f'config.json.') from error
    return create
