""" Vision Transformer for small images with a choice of efficient attention per layer.

'An Image is Worth 16x16 Words' (Dosovitskiy et al. 2021) as timm's `VisionTransformer`, whose blocks
hold any attention of `timm_attnzoo.layers`: the same one everywhere (`attn_type=`) or one per layer
(`layers=[...]`, the hybrid Performer patterns of 'Rethinking Attention with Performers', Sec. 4).

Defaults are the seed codebases' configurations for 32x32 CIFAR-10:
  * `vit_*_cifar`: patch 4, width 48, depth 4, 4 heads, MLP 192.
  * the Performer patterns: width 64, 4 heads, mlp_ratio 2, depth 6, m = 64 features.
timm's keyword arguments (img_size, in_chans, num_classes, patch_size, global_pool, drop_rate,
drop_path_rate, ...) size them for MNIST (1x28x28), STL-10 (96), Tiny ImageNet (64, 200 classes) or
ImageNet-100 (224, patch 16).
"""
from functools import partial
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from timm.layers import PatchEmbed, to_2tuple
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.vision_transformer import Block, VisionTransformer
from timm.models.vision_transformer import checkpoint_filter_fn as vit_checkpoint_filter_fn

from ..layers import (
    DilatedLinearAttention, LinformerAttention, PerformerAttention, check_attn_type,
    create_attention, resample_linformer_projection,
)
from .input_checks import check_divisible, check_in_chans
from .pretrained_cfg import cifar10_cfg, readable_pretrained_errors, with_weight_tags

__all__ = ['EfficientAttentionViT']

GRID_TIED_ATTENTION = ('linformer', 'dilated_linear')


class CheckedPatchEmbed(PatchEmbed):
    """ timm's `PatchEmbed` that answers a wrong channel count or image size with a `ValueError`. """

    def __init__(self, img_size: Union[int, Tuple[int, int]], patch_size: Union[int, Tuple[int, int]], **kwargs) -> None:
        if not kwargs.get('dynamic_img_pad'):
            check_divisible(img_size, patch_size)
        super().__init__(img_size=img_size, patch_size=patch_size, **kwargs)
        self.in_chans = self.proj.in_channels

    def set_input_size(self, img_size=None, patch_size=None) -> None:
        if not self.dynamic_img_pad:
            check_divisible(img_size or self.img_size, patch_size or self.patch_size)
        super().set_input_size(img_size=img_size, patch_size=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_in_chans(x, self.in_chans)
        size = tuple(x.shape[-2:])
        if self.strict_img_size and size != tuple(self.img_size):
            raise ValueError(
                f'Input size {size} does not match img_size={tuple(self.img_size)}; build the model with '
                f'img_size={size} (position embeddings and Linformer projections of a checkpoint are resampled '
                f'on load) or call model.set_input_size(img_size={size}).')
        if not self.dynamic_img_pad:
            check_divisible(size, self.patch_size)
        return super().forward(x)


class EfficientAttentionBlock(Block):
    """ timm's pre-norm ViT block holding the attention layer chosen for its depth.

    timm's `Block` builds its attention through `attn_layer`; here `nn.Identity` takes and drops those
    arguments, and the zoo's layer for this depth takes its place (the `attn_layer` that
    `VisionTransformer` passes is not used).
    """

    def __init__(
            self,
            dim: int,
            num_heads: int,
            attn_layers: Sequence[Callable[..., nn.Module]],
            depth: int = 0,
            qkv_bias: bool = True,
            attn_drop: float = 0.,
            proj_drop: float = 0.,
            attn_layer: Any = None,
            **kwargs: Any,
    ) -> None:
        super().__init__(
            dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=proj_drop,
            attn_layer=nn.Identity, depth=depth, **kwargs)
        self.attn = attn_layers[depth](dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=proj_drop)


class EfficientAttentionViT(VisionTransformer):
    """ timm's VisionTransformer whose blocks use the zoo's attention layers. """

    def __init__(
            self,
            attn_type: str = 'softmax',
            layers: Optional[Sequence[str]] = None,
            attn_kwargs: Optional[Dict[str, Dict[str, Any]]] = None,
            img_size: Union[int, Tuple[int, int]] = 32,
            patch_size: Union[int, Tuple[int, int]] = 4,
            depth: int = 4,
            class_token: bool = True,
            reg_tokens: int = 0,
            dynamic_img_size: bool = False,
            **kwargs: Any,
    ) -> None:
        """
        Args:
            attn_type: Attention of every block, one of `timm_attnzoo.layers.ATTENTION_LAYERS`.
            layers: Attention type per block (length `depth`); overrides `attn_type`.
            attn_kwargs: Options per attention type, e.g. {'performer': {'num_features': 64}}.
            img_size, patch_size, depth, class_token, reg_tokens, dynamic_img_size, **kwargs:
                timm's `VisionTransformer` arguments.
        """
        check_attn_type(attn_type)
        layer_types = [attn_type] * depth if layers is None else list(layers)
        if len(layer_types) != depth:
            raise ValueError(f'layers has {len(layer_types)} entries but depth={depth}; give one attention type per block.')
        for layer_type in layer_types:
            check_attn_type(layer_type, argument='layers')
        attn_kwargs = dict(attn_kwargs or {})
        for key in attn_kwargs:
            check_attn_type(key, argument='attn_kwargs key')
        for option in ('qk_norm', 'scale_attn_norm'):
            if kwargs.get(option):
                raise ValueError(f'{option}=True is not implemented by the zoo\'s attention layers; leave it False.')
        if dynamic_img_size and any(t in GRID_TIED_ATTENTION for t in layer_types):
            raise ValueError(
                f'dynamic_img_size=True is not possible with {GRID_TIED_ATTENTION} layers, which are tied to one patch '
                f'grid; build the model at its img_size or call set_input_size().')
        if not kwargs.get('dynamic_img_pad'):
            check_divisible(img_size, patch_size)
        grid_size = tuple(i // p for i, p in zip(to_2tuple(img_size), to_2tuple(patch_size)))
        num_prefix_tokens = int(class_token) + reg_tokens
        attn_layers = [
            partial(create_attention, t, grid_size=grid_size, num_prefix_tokens=num_prefix_tokens, **attn_kwargs.get(t, {}))
            for t in layer_types]
        super().__init__(
            img_size=img_size,
            patch_size=patch_size,
            depth=depth,
            class_token=class_token,
            reg_tokens=reg_tokens,
            dynamic_img_size=dynamic_img_size,
            embed_layer=CheckedPatchEmbed,
            block_fn=partial(EfficientAttentionBlock, attn_layers=attn_layers),
            **kwargs,
        )
        self.layer_types = layer_types

    def set_input_size(self, img_size=None, patch_size=None) -> None:
        """ timm's resize of patch grid and position embedding, carried into the grid-tied attention layers. """
        old_grid = self.patch_embed.grid_size
        super().set_input_size(img_size=img_size, patch_size=patch_size)
        new_grid = self.patch_embed.grid_size
        for block in self.blocks:
            if isinstance(block.attn, LinformerAttention):
                block.attn.set_seq_len(new_grid, old_grid, self.num_prefix_tokens)
            elif isinstance(block.attn, DilatedLinearAttention):
                block.attn.set_grid_size(new_grid)

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None, is_causal: bool = False) -> torch.Tensor:
        if self.training:
            # one count per training step, outside any checkpointed region (see PerformerAttention)
            for block in self.blocks:
                if isinstance(block.attn, PerformerAttention):
                    block.attn.step()
        return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: EfficientAttentionViT) -> Dict[str, torch.Tensor]:
    """ timm's ViT filter (position embedding resampling), then Linformer projections resampled to the model's grid. """
    state_dict = vit_checkpoint_filter_fn(state_dict, model)
    new_grid = model.patch_embed.grid_size
    num_prefix_tokens = model.num_prefix_tokens
    for key, value in state_dict.items():
        if key.endswith(('attn.proj_k', 'attn.proj_v')) and value.shape[0] != num_prefix_tokens + new_grid[0] * new_grid[1]:
            old_side = int((value.shape[0] - num_prefix_tokens) ** 0.5)
            state_dict[key] = resample_linformer_projection(value, new_grid, [old_side, old_side], num_prefix_tokens)
    return state_dict


@readable_pretrained_errors
def _create_efficient_attention_vit(variant: str, pretrained: bool = False, **kwargs: Any) -> EfficientAttentionViT:
    out_indices = kwargs.pop('out_indices', 3)
    return build_model_with_cfg(
        EfficientAttentionViT,
        variant,
        pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(out_indices=out_indices, feature_cls='getter'),
        **kwargs,
    )


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    return cifar10_cfg(fixed_input_size=True, first_conv='patch_embed.proj', classifier='head', **kwargs)


default_cfgs = generate_default_cfgs(with_weight_tags({
    'vit_cifar': _cfg(),
    'vit_linformer_cifar': _cfg(),
    'vit_performer_cifar': _cfg(),
    'vit_performer_relu_cifar': _cfg(),
    'vit_nystrom_cifar': _cfg(),
    'vit_dilated_linear_cifar': _cfg(),
    'vit_performer_reg_cifar': _cfg(),
    'vit_reg_performer_cifar': _cfg(),
    'vit_performer_intertwined_cifar': _cfg(),
}))

SEED_VIT_ARGS = dict(patch_size=4, embed_dim=48, depth=4, num_heads=4, mlp_ratio=4.)
SEED_PERFORMER_PATTERN_ARGS = dict(
    patch_size=4, embed_dim=64, depth=6, num_heads=4, mlp_ratio=2., attn_kwargs={'performer': dict(num_features=64)})


@register_model
def vit_cifar(pretrained: bool = False, **kwargs) -> EfficientAttentionViT:
    """ ViT with softmax attention (SDPA), patch 4, width 48, depth 4, 4 heads. """
    model_args = dict(SEED_VIT_ARGS, attn_type='softmax')
    return _create_efficient_attention_vit('vit_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def vit_linformer_cifar(pretrained: bool = False, **kwargs) -> EfficientAttentionViT:
    """ ViT with Linformer attention, keys and values projected from 65 to k = 32 tokens. """
    model_args = dict(SEED_VIT_ARGS, attn_type='linformer', attn_kwargs={'linformer': dict(proj_dim=32)})
    return _create_efficient_attention_vit('vit_linformer_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def vit_performer_cifar(pretrained: bool = False, **kwargs) -> EfficientAttentionViT:
    """ ViT with Performer attention, softmax kernel, m = 64 positive orthogonal features. """
    model_args = dict(SEED_VIT_ARGS, attn_type='performer', attn_kwargs={'performer': dict(num_features=64)})
    return _create_efficient_attention_vit('vit_performer_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def vit_performer_relu_cifar(pretrained: bool = False, **kwargs) -> EfficientAttentionViT:
    """ ViT with Performer attention, ReLU kernel, m = 64 orthogonal features. """
    model_args = dict(SEED_VIT_ARGS, attn_type='performer_relu', attn_kwargs={'performer_relu': dict(num_features=64)})
    return _create_efficient_attention_vit('vit_performer_relu_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def vit_nystrom_cifar(pretrained: bool = False, **kwargs) -> EfficientAttentionViT:
    """ ViT with Nystrom attention, 16 landmarks, 6 pseudo-inverse iterations, conv residual of 33. """
    model_args = dict(SEED_VIT_ARGS, attn_type='nystrom', attn_kwargs={'nystrom': dict(num_landmarks=16)})
    return _create_efficient_attention_vit('vit_nystrom_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def vit_dilated_linear_cifar(pretrained: bool = False, **kwargs) -> EfficientAttentionViT:
    """ ViT with 2 dilated-window softmax heads (dilations 1 and 2, 4x4 windows) and 2 linear heads. """
    model_args = dict(SEED_VIT_ARGS, attn_type='dilated_linear')
    return _create_efficient_attention_vit('vit_dilated_linear_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def vit_performer_reg_cifar(pretrained: bool = False, **kwargs) -> EfficientAttentionViT:
    """ Hybrid: 3 Performer blocks, then 3 softmax blocks. """
    model_args = dict(SEED_PERFORMER_PATTERN_ARGS, layers=['performer'] * 3 + ['softmax'] * 3)
    return _create_efficient_attention_vit('vit_performer_reg_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def vit_reg_performer_cifar(pretrained: bool = False, **kwargs) -> EfficientAttentionViT:
    """ Hybrid: 3 softmax blocks, then 3 Performer blocks. """
    model_args = dict(SEED_PERFORMER_PATTERN_ARGS, layers=['softmax'] * 3 + ['performer'] * 3)
    return _create_efficient_attention_vit('vit_reg_performer_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def vit_performer_intertwined_cifar(pretrained: bool = False, **kwargs) -> EfficientAttentionViT:
    """ Hybrid: Performer and softmax blocks alternating, Performer first. """
    model_args = dict(SEED_PERFORMER_PATTERN_ARGS, layers=['performer', 'softmax'] * 3)
    return _create_efficient_attention_vit('vit_performer_intertwined_cifar', pretrained=pretrained, **dict(model_args, **kwargs))
