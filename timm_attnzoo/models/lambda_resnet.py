""" ResNet-50 and Lambda-ResNet-50 for CIFAR-sized images, on timm's ByobNet.

'LambdaNetworks: Modeling Long-Range Interactions Without Attention' (Bello 2021): a lambda layer takes the
place of the 3x3 convolution in the bottleneck blocks of the last two stages, c4 and c5, the hybrid
'C -> C -> L -> L' of Table 5 (convolutions where the maps are large, lambda layers where context is
global), with |k| = 16, |h| = 4, |u| = 1 and a lambda convolution for the position lambdas. A stride-2 block
pools the lambda layer's output (as timm's lambda ResNets do).

`resnet50_cifar` is the same network with the convolutions: ResNet-50 (He et al. 2016, v1.5 strides) as
the baseline. `lambda_resnet_tiny_cifar` is the hybrid at CPU scale: two bottleneck blocks per stage (26
layers) at a quarter of the width. All use a CIFAR stem, one 3x3 convolution at stride 1 and no pooling, so
a 32x32 image enters c2 whole and reaches c5 at 4x4.
"""
from typing import Any, Dict

from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.byobnet import ByoBlockCfg, ByobNet, ByoModelCfg

from ..layers import LambdaLayer
from .input_checks import check_in_chans
from .pretrained_cfg import cifar10_cfg, readable_pretrained_errors, with_weight_tags

__all__ = ['CifarByobNet']


class CifarByobNet(ByobNet):
    """ timm's ByobNet whose 3x3 stem convolution runs at stride 1, without stem pooling. """

    def __init__(self, cfg: ByoModelCfg, **kwargs: Any) -> None:
        if cfg.stem_type != '3x3' or cfg.stem_pool or cfg.fixed_input_size:
            raise ValueError(
                f'CifarByobNet needs a 3x3 stem without pooling and no fixed-size layers, got stem_type='
                f'{cfg.stem_type!r}, stem_pool={cfg.stem_pool!r}, fixed_input_size={cfg.fixed_input_size}.')
        super().__init__(cfg, **kwargs)
        self.stem.conv.stride = (1, 1)  # its padding of 1 is the same at stride 1 and 2
        # on the stem, so the whole model, its features_only wrapper and forward_intermediates all check
        self.stem.register_forward_pre_hook(lambda module, args: check_in_chans(args[0], module.conv.in_channels))
        for info in self.feature_info:
            info['reduction'] //= 2


def _resnet_cfg(
        c4_c5_block: str, depths=(3, 4, 6, 3), widths=(256, 512, 1024, 2048), stem_chs: int = 64) -> ByoModelCfg:
    """ Bottleneck stages c2-c5 (ResNet-50's by default), with `c4_c5_block` ('bottle' or 'self_attn') in c4 and c5. """
    return ByoModelCfg(
        blocks=tuple(
            ByoBlockCfg(type='bottle' if i < 2 else c4_c5_block, d=d, c=c, s=1 if i == 0 else 2, gs=0, br=0.25)
            for i, (d, c) in enumerate(zip(depths, widths))),
        stem_chs=stem_chs,
        stem_type='3x3',
        stem_pool='',
        self_attn_layer=LambdaLayer,
        self_attn_kwargs=dict(num_heads=4, dim_head=16, intra_depth=1, pos_emb='conv', r=9),
    )


model_cfgs = dict(
    resnet50_cifar=_resnet_cfg('bottle'),
    lambda_resnet50_cifar=_resnet_cfg('self_attn'),
    lambda_resnet_tiny_cifar=_resnet_cfg('self_attn', depths=(2, 2, 2, 2), widths=(64, 128, 256, 512), stem_chs=32),
)


@readable_pretrained_errors
def _create_cifar_byobnet(variant: str, pretrained: bool = False, **kwargs: Any) -> CifarByobNet:
    return build_model_with_cfg(
        CifarByobNet,
        variant,
        pretrained,
        model_cfg=model_cfgs[variant],
        feature_cfg=dict(flatten_sequential=True, out_indices=(0, 1, 2, 3)),  # c2-c5: the stem has no feature of its own
        **kwargs,
    )


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    return cifar10_cfg(pool_size=(4, 4), first_conv='stem.conv', classifier='head.fc', **kwargs)


default_cfgs = generate_default_cfgs(with_weight_tags({
    'resnet50_cifar': _cfg(),
    'lambda_resnet50_cifar': _cfg(),
    'lambda_resnet_tiny_cifar': _cfg(),
}))


@register_model
def resnet50_cifar(pretrained: bool = False, **kwargs) -> CifarByobNet:
    """ ResNet-50 with a CIFAR stem. """
    return _create_cifar_byobnet('resnet50_cifar', pretrained=pretrained, **kwargs)


@register_model
def lambda_resnet50_cifar(pretrained: bool = False, **kwargs) -> CifarByobNet:
    """ Lambda-ResNet-50 with a CIFAR stem: lambda layers (r = 9) in place of the 3x3 convs of c4 and c5. """
    return _create_cifar_byobnet('lambda_resnet50_cifar', pretrained=pretrained, **kwargs)


@register_model
def lambda_resnet_tiny_cifar(pretrained: bool = False, **kwargs) -> CifarByobNet:
    """ Lambda-ResNet-26 at a quarter of the width (c2-c5 of 64-512, 2 blocks each) for CPU training. """
    return _create_cifar_byobnet('lambda_resnet_tiny_cifar', pretrained=pretrained, **kwargs)
