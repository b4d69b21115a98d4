""" The check every model runs on its input, so a wrong channel count or size is a ValueError that says what to do. """
from typing import Tuple

import torch
import torch.nn as nn


def check_in_chans(x: torch.Tensor, in_chans: int) -> None:
    """ Raise a ValueError unless x is (B, in_chans, H, W). """
    if x.ndim != 4 or x.shape[1] != in_chans:
        raise ValueError(
            f'Input of shape {tuple(x.shape)} does not have in_chans={in_chans} channels (B, C, H, W); '
            f'build the model with in_chans={x.shape[1] if x.ndim == 4 else "..."}.')


def check_patch_embed_input(module: nn.Module, args: Tuple[torch.Tensor, ...]) -> None:
    """ Forward pre-hook for timm's `PatchEmbed` and TNT's `PixelEmbed`, whose own checks are asserts: the
    channels, and the size unless the embedding takes any (strict_img_size=False). Registered on the stem, it
    guards the model, its features_only wrapper and forward_intermediates alike. """
    x = args[0]
    check_in_chans(x, module.proj.in_channels)
    size, img_size = tuple(x.shape[-2:]), tuple(module.img_size)
    if getattr(module, 'strict_img_size', True) and size != img_size:
        raise ValueError(f'Input size {size} does not match img_size={img_size}; build the model with img_size={size}.')
