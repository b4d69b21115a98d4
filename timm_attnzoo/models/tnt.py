""" Transformer in Transformer for small images: timm's `TNT` on 4x4 patches of 2x2 pixel tokens.

'Transformer in Transformer' (Han et al. 2021), eqs. 2-5: an inner transformer attends among the pixel
tokens of each patch, whose flattened output is added to the patch token, and an outer transformer
attends among the patches. The seed's randomly initialized TNT: 6 blocks, patch tokens of width 512 with 8
heads, pixel tokens of width 24, 4x4 patches of 2x2 pixel tokens. timm embeds the pixel tokens with a 7x7
convolution at stride `first_stride` inside each patch, so a stride of 2 gives the 2x2 of them.
"""
from typing import Any, Dict

from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.tnt import TNT, checkpoint_filter_fn

from .input_checks import check_divisible, check_patch_embed_input
from .pretrained_cfg import cifar10_cfg, readable_pretrained_errors, with_weight_tags

__all__ = ['CifarTNT']


class CifarTNT(TNT):
    """ timm's TNT whose pixel embedding answers a wrong channel count, an image size it was not
    built for, or one its patches do not divide with a ValueError. """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_divisible(self.pixel_embed.img_size, self.pixel_embed.patch_size)
        self.pixel_embed.register_forward_pre_hook(check_patch_embed_input)


@readable_pretrained_errors
def _create_tnt(variant: str, pretrained: bool = False, **kwargs: Any) -> CifarTNT:
    out_indices = kwargs.pop('out_indices', 3)
    return build_model_with_cfg(
        CifarTNT,
        variant,
        pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(out_indices=out_indices, feature_cls='getter'),
        **kwargs,
    )


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    return cifar10_cfg(
        fixed_input_size=True, first_conv='pixel_embed.proj', classifier='head', paper_ids='arXiv:2103.00112',
        **kwargs)


default_cfgs = generate_default_cfgs(with_weight_tags({
    'tnt_cifar': _cfg(),
}))


@register_model
def tnt_cifar(pretrained: bool = False, **kwargs) -> CifarTNT:
    """ The seed's TNT: 6 blocks, width 512 (8 heads) outside, 24 (4 heads) inside, 4x4 patches of 2x2 pixels. """
    model_args = dict(
        patch_size=4, first_stride=2, embed_dim=512, inner_dim=24, depth=6, num_heads_outer=8,
        num_heads_inner=4, qkv_bias=False)
    return _create_tnt('tnt_cifar', pretrained=pretrained, **dict(model_args, **kwargs))
