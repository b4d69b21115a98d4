""" Swin Transformer for small images: timm's `SwinTransformer` on 2x2 patches with 4x4 windows.

'Swin Transformer: Hierarchical Vision Transformer using Shifted Windows' (Liu et al. 2021): softmax
attention inside windows (eq. 4, with a relative position bias), shifted by half a window in every second
block, and patch merging between four stages. The seed's widths, depths and heads (Swin-T-like: width 64,
depths 2-2-8-2, heads 2-4-8-16) sit on 2x2 patches and 4x4 windows, so a 32x32 image gives stage grids of
16, 8, 4 and 2 and the first two stages really are windowed and shifted: the token grids of
`mixformer_cifar`, so the two window attentions compare like for like. The seed's 4x4 patches and 8x8
windows (`patch_size=4, window_size=8`) give grids of 8, 4, 2 and 1, where every window covers its whole
stage and no block shifts: global attention.
"""
from typing import Any, Dict

from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.swin_transformer import SwinTransformer, checkpoint_filter_fn

from .input_checks import check_divisible, check_patch_embed_input
from .pretrained_cfg import cifar10_cfg, readable_pretrained_errors, with_weight_tags

__all__ = ['CifarSwinTransformer']


class CifarSwinTransformer(SwinTransformer):
    """ timm's SwinTransformer whose patch embedding answers a wrong channel count, an image size it was not
    built for, or one its patches do not divide with a ValueError. """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_divisible(self.patch_embed.img_size, self.patch_embed.patch_size)
        self.patch_embed.register_forward_pre_hook(check_patch_embed_input)

    def set_input_size(self, img_size=None, patch_size=None, **kwargs: Any) -> None:
        check_divisible(img_size or self.patch_embed.img_size, patch_size or self.patch_embed.patch_size)
        super().set_input_size(img_size=img_size, patch_size=patch_size, **kwargs)


@readable_pretrained_errors
def _create_swin_transformer(variant: str, pretrained: bool = False, **kwargs: Any) -> CifarSwinTransformer:
    out_indices = kwargs.pop('out_indices', (0, 1, 2, 3))
    return build_model_with_cfg(
        CifarSwinTransformer,
        variant,
        pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(flatten_sequential=True, out_indices=out_indices),
        **kwargs,
    )


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    return cifar10_cfg(
        fixed_input_size=True, first_conv='patch_embed.proj', classifier='head.fc', paper_ids='arXiv:2103.14030',
        **kwargs)


default_cfgs = generate_default_cfgs(with_weight_tags({
    'swin_cifar': _cfg(),
}))


@register_model
def swin_cifar(pretrained: bool = False, **kwargs) -> CifarSwinTransformer:
    """ Swin with the seed's width 64, depths 2-2-8-2 and heads 2-4-8-16 on 2x2 patches and 4x4 windows. """
    model_args = dict(
        patch_size=2, window_size=4, embed_dim=64, depths=(2, 2, 8, 2), num_heads=(2, 4, 8, 16))
    return _create_swin_transformer('swin_cifar', pretrained=pretrained, **dict(model_args, **kwargs))
