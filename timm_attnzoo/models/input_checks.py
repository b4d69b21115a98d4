""" The check every model runs on its input, so a wrong channel count or size is a ValueError that says what to do. """
from typing import Tuple, Union

import torch
import torch.nn as nn
from timm.layers import to_2tuple


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


def check_divisible(img_size: Union[int, Tuple[int, int]], patch_size: Union[int, Tuple[int, int]]) -> None:
    """ Raise a ValueError unless the patches tile the image: timm's patch embeddings are strided convolutions
    that would drop the remainder's rows and columns without a word. """
    if any(i % p for i, p in zip(to_2tuple(img_size), to_2tuple(patch_size))):
        raise ValueError(
            f'img_size={img_size} is not divisible by patch_size={patch_size}; choose an image size that is a '
            f'multiple of the patch size.')
