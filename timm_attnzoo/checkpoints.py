""" A model with trained weights, from either kind of file the package and timm write: a weights folder in
timm's Hub layout (config.json + model.safetensors, from `save_for_hf`, e.g. a study run's weights/), or a
checkpoint file (train.py's or the study's .pth.tar, EMA weights first if it has them, or .safetensors).
"""
from pathlib import Path
from typing import Any, Optional

import timm
import torch.nn as nn
from timm.models import load_checkpoint


def create_model_from_checkpoint(model_name: Optional[str], checkpoint: Optional[str] = None, **kwargs: Any) -> nn.Module:
    """ `model_name` built with kwargs and loaded from `checkpoint`; randomly initialized without one.

    A weights folder carries its architecture and model arguments (loaded through timm's 'local-dir:'), so
    model_name may be None; a checkpoint file carries weights only, so kwargs must size the model as it was
    trained (in_chans, num_classes, img_size).
    """
    if checkpoint is not None and Path(checkpoint).is_dir():
        model = timm.create_model(f'local-dir:{checkpoint}', pretrained=True, **kwargs)
        architecture = model.pretrained_cfg.get('architecture')
        if model_name is not None and architecture != model_name:
            raise ValueError(f'--checkpoint {checkpoint} holds a {architecture}, not a {model_name}.')
        return model
    if model_name is None:
        raise ValueError('a model name is needed unless the checkpoint is a weights folder with its config.json.')
    model = timm.create_model(model_name, **kwargs)
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f'checkpoint {checkpoint} does not exist.')
        load_checkpoint(model, checkpoint, use_ema=True)
    return model
