""" MLP-Mixer for small images: timm's `MlpMixer` on 4x4 patches.

'MLP-Mixer: An all-MLP Architecture for Vision' (Tolstikhin et al. 2021), eq. 1: a token-mixing MLP across
the patches, then a channel-mixing MLP across the channels of each patch, no attention at all. The seed
trained Mixer-S (8 blocks of width 512, token and channel MLPs 256 and 2048 wide) from scratch; on a 32x32
image 4x4 patches give it 64 tokens, where S/16's patches would leave 4.
"""
from typing import Any, Dict

from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.mlp_mixer import MlpMixer, checkpoint_filter_fn

from .input_checks import check_divisible, check_patch_embed_input
from .pretrained_cfg import cifar10_cfg, readable_pretrained_errors, with_weight_tags

__all__ = ['CifarMlpMixer']


class CifarMlpMixer(MlpMixer):
    """ timm's MlpMixer whose stem answers a wrong channel count, an image size it was not
    built for, or one its patches do not divide with a ValueError. """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_divisible(self.stem.img_size, self.stem.patch_size)
        self.stem.register_forward_pre_hook(check_patch_embed_input)


@readable_pretrained_errors
def _create_mixer(variant: str, pretrained: bool = False, **kwargs: Any) -> CifarMlpMixer:
    out_indices = kwargs.pop('out_indices', 3)
    return build_model_with_cfg(
        CifarMlpMixer,
        variant,
        pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(out_indices=out_indices, feature_cls='getter'),
        **kwargs,
    )


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    return cifar10_cfg(
        fixed_input_size=True, first_conv='stem.proj', classifier='head', paper_ids='arXiv:2105.01601',
        **kwargs)


default_cfgs = generate_default_cfgs(with_weight_tags({
    'mixer_cifar': _cfg(),
}))


@register_model
def mixer_cifar(pretrained: bool = False, **kwargs) -> CifarMlpMixer:
    """ Mixer-S on 4x4 patches of a 32x32 image, the seed's from-scratch Mixer. """
    model_args = dict(patch_size=4, num_blocks=8, embed_dim=512, mlp_ratio=(0.5, 4.0))
    return _create_mixer('mixer_cifar', pretrained=pretrained, **dict(model_args, **kwargs))
