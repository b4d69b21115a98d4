""" MixFormer for small images, the MixFormer-Lambda hybrid, and the seed's ablations of both.

'MixFormer: Mixing Features across Windows and Dimensions' (Chen et al. 2022), following the official
PaddleClas `mixformer.py`: a convolutional stem, four stages of mixing blocks with BN + 2x2 conv merging
between them, and a head that projects every token to 1280 channels before pooling. A mixing block
(Fig. 2, eq. 1-4) splits its channels into a windowed attention branch (half the channels) and a parallel
depth-wise conv branch (all channels, projected to half), and lets them gate each other:
  * channel interaction: global-pooled conv features -> 1x1 convs -> sigmoid, a per-channel gate on the
    attention values (applied to the attention output, which is the same thing: attention and lambda
    layers are linear in each value channel);
  * spatial interaction: attention output -> 1x1 convs -> sigmoid, a per-position gate on the conv branch;
then the two are concatenated and projected.

The hybrid (`mixer='lambda'`) replaces the window attention with a lambda layer on each window
(`timm_attnzoo.layers.LambdaLayer`, Bello 2021) whose learned position embeddings take the place of the
relative position bias. The seed's ablations switch parts off: `sequential` (#1, conv then lambda layer in
sequence, no interactions), no interaction at all (#2), no spatial (#3) or channel (#4) interaction, and
MixFormer without its relative position bias (#5).

Adapted to 32x32 input: a patch-2 stem (32 -> 16 tokens a side) and windows of 4, 4, 4 and 2 that tile the
16, 8, 4 and 2 sized stages. Other sizes are padded, as PaddleClas does: the input to a multiple of the
patch, each block to a multiple of its window, each merge to an even size; the weights do not depend on
the image size.
"""
from functools import partial
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import ConvNormAct, DropPath, Mlp, to_2tuple, trunc_normal_
from timm.models import build_model_with_cfg, checkpoint_seq, generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models.swin_transformer import window_partition, window_reverse

from ..layers import LambdaLayer, WindowAttention
from .input_checks import check_in_chans
from .pretrained_cfg import cifar10_cfg, readable_pretrained_errors, with_weight_tags

__all__ = ['MixFormer']

MIXERS = ('attention', 'lambda')


def _pad_to_multiple(x: torch.Tensor, multiple: Tuple[int, int], channels_last: bool = True) -> torch.Tensor:
    """ Zero-pad the bottom and right of (B, H, W, C), or of (B, C, H, W), to multiples of (mh, mw). """
    h_dim = 1 if channels_last else 2
    pad_h, pad_w = (-x.shape[h_dim]) % multiple[0], (-x.shape[h_dim + 1]) % multiple[1]
    if not (pad_h or pad_w):
        return x
    return F.pad(x, (0, 0, 0, pad_w, 0, pad_h) if channels_last else (0, pad_w, 0, pad_h))


def _check_global_pool(global_pool: str) -> str:
    if global_pool not in ('avg', ''):
        raise ValueError(f"global_pool={global_pool!r} is not supported; use 'avg' or ''.")
    return global_pool


class ConvStem(nn.Module):
    """ MixFormer's stem: three 3x3 conv-BN-GELU (the first with stride patch_size // 2), a 2x2 stride-2 patch
    projection and a LayerNorm. (B, C, H, W) in, (B, H / p, W / p, embed_dim) out. """

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int) -> None:
        super().__init__()
        if patch_size < 2 or patch_size % 2:
            raise ValueError(f'patch_size={patch_size} must be even: a strided conv and a 2x2 patch projection.')
        self.in_chans = in_chans
        self.patch_size = patch_size
        stem_dim = embed_dim // 2
        conv = partial(ConvNormAct, kernel_size=3, padding=1, bias=True, act_layer=nn.GELU)
        self.conv1 = conv(in_chans, stem_dim, stride=patch_size // 2)
        self.conv2 = conv(stem_dim, stem_dim)
        self.conv3 = conv(stem_dim, stem_dim)
        self.proj = nn.Conv2d(stem_dim, embed_dim, kernel_size=2, stride=2)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_in_chans(x, self.in_chans)
        x = _pad_to_multiple(x, (self.patch_size, self.patch_size), channels_last=False)
        x = self.proj(self.conv3(self.conv2(self.conv1(x))))
        return self.norm(x.permute(0, 2, 3, 1))


class MixingAttention(nn.Module):
    """ The mixing attention of a MixFormer block on a window-aligned (B, H, W, C) map. """

    def __init__(
            self,
            dim: int,
            num_heads: int,
            window_size: Tuple[int, int],
            dwconv_kernel_size: int = 3,
            mixer: str = 'attention',
            rel_pos_bias: bool = True,
            lambda_kwargs: Optional[Dict[str, Any]] = None,
            channel_interaction: bool = True,
            spatial_interaction: bool = True,
            sequential: bool = False,
            qkv_bias: bool = True,
            attn_drop: float = 0.,
            proj_drop: float = 0.,
    ) -> None:
        """
        Args:
            dim: Channels C; the attention branch works on C / 2.
            num_heads: Heads of the window attention, query heads of the lambda layer.
            window_size: (Wh, Ww) of the attention windows.
            dwconv_kernel_size: Kernel of the depth-wise conv branch.
            mixer: 'attention' (window attention) or 'lambda' (lambda layer on each window).
            rel_pos_bias: Relative position bias in the window attention.
            lambda_kwargs: Options of the `LambdaLayer` (dim_head, intra_depth).
            channel_interaction: Gate the attention values with the conv branch.
            spatial_interaction: Gate the conv branch with the attention branch.
            sequential: Conv branch, then the attention/lambda branch on its output; no interactions.
            qkv_bias, attn_drop: Window attention options.
            proj_drop: Dropout after the output projection.
        """
        super().__init__()
        if mixer not in MIXERS:
            raise ValueError(f'mixer={mixer!r} is not a MixFormer mixer; choose from {MIXERS}.')
        if dim % 16:
            raise ValueError(f'dim={dim} must be a multiple of 16 (the spatial interaction narrows to dim // 16).')
        attn_dim = dim // 2
        self.window_size = tuple(window_size)
        self.sequential = sequential
        self.proj_attn = nn.Linear(dim, attn_dim)
        self.proj_attn_norm = nn.LayerNorm(attn_dim)
        self.proj_cnn = nn.Linear(dim, dim)
        self.proj_cnn_norm = nn.LayerNorm(dim)
        self.dwconv = ConvNormAct(
            dim, dim, dwconv_kernel_size, padding=dwconv_kernel_size // 2, groups=dim, bias=True, act_layer=nn.GELU)
        if mixer == 'attention':
            self.attn = WindowAttention(
                attn_dim, num_heads, self.window_size, qkv_bias=qkv_bias, attn_drop=attn_drop, rel_pos_bias=rel_pos_bias)
        else:
            self.attn = LambdaLayer(
                attn_dim, feat_size=self.window_size, num_heads=num_heads, pos_emb='learned', **(lambda_kwargs or {}))
        self.attn_norm = nn.LayerNorm(attn_dim)
        self.channel_interaction = None
        self.spatial_interaction = None
        if sequential:
            self.proj = nn.Linear(attn_dim, dim)
        else:
            if channel_interaction:
                self.channel_interaction = nn.Sequential(
                    ConvNormAct(dim, dim // 8, 1, bias=True, act_layer=nn.GELU),
                    nn.Conv2d(dim // 8, attn_dim, kernel_size=1),
                )
            self.projection = nn.Conv2d(dim, attn_dim, kernel_size=1)
            self.conv_norm = nn.BatchNorm2d(attn_dim)
            if spatial_interaction:
                self.spatial_interaction = nn.Sequential(
                    ConvNormAct(attn_dim, dim // 16, 1, bias=True, act_layer=nn.GELU),
                    nn.Conv2d(dim // 16, 1, kernel_size=1),
                )
            self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def mix_windows(self, x: torch.Tensor) -> torch.Tensor:
        """ Window attention or lambda layer on each window of (B, H, W, C / 2). """
        B, H, W, C = x.shape
        win_h, win_w = self.window_size
        windows = window_partition(x, self.window_size)  # B * num_windows, Wh, Ww, C / 2
        if isinstance(self.attn, LambdaLayer):
            windows = self.attn(windows.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        else:
            windows = self.attn(windows.reshape(-1, win_h * win_w, C)).reshape(-1, win_h, win_w, C)
        return window_reverse(windows, self.window_size, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_cnn = self.proj_cnn_norm(self.proj_cnn(x)).permute(0, 3, 1, 2)
        x_cnn = self.dwconv(x_cnn)  # B, C, H, W
        if self.sequential:
            x_attn = self.mix_windows(self.proj_attn_norm(self.proj_attn(x_cnn.permute(0, 2, 3, 1))))
            return self.proj_drop(self.proj(self.attn_norm(x_attn)))

        x_attn = self.mix_windows(self.proj_attn_norm(self.proj_attn(x)))  # B, H, W, C / 2
        if self.channel_interaction is not None:
            channel_gate = self.channel_interaction(x_cnn.mean((2, 3), keepdim=True))  # B, C / 2, 1, 1
            x_attn = x_attn * torch.sigmoid(channel_gate).permute(0, 2, 3, 1)
        x_cnn = self.projection(x_cnn)  # B, C / 2, H, W
        if self.spatial_interaction is not None:
            spatial_gate = self.spatial_interaction(x_attn.permute(0, 3, 1, 2))  # B, 1, H, W
            x_cnn = x_cnn * torch.sigmoid(spatial_gate)
        x_cnn = self.conv_norm(x_cnn)
        x = torch.cat([self.attn_norm(x_attn), x_cnn.permute(0, 2, 3, 1)], dim=-1)
        return self.proj_drop(self.proj(x))


class MixingBlock(nn.Module):
    """ Pre-norm block: mixing attention on the map padded to whole windows, then an MLP. (B, H, W, C) in and out. """

    def __init__(
            self,
            dim: int,
            num_heads: int,
            window_size: Tuple[int, int],
            mlp_ratio: float = 4.,
            proj_drop: float = 0.,
            drop_path: float = 0.,
            **attn_kwargs: Any,
    ) -> None:
        super().__init__()
        self.window_size = tuple(window_size)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MixingAttention(dim, num_heads, self.window_size, proj_drop=proj_drop, **attn_kwargs)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden_features=int(dim * mlp_ratio), act_layer=nn.GELU, drop=proj_drop)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, H, W, _ = x.shape
        attn = self.attn(_pad_to_multiple(self.norm1(x), self.window_size))[:, :H, :W]
        x = x + self.drop_path1(attn)
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class ConvMerging(nn.Module):
    """ BN, then a 2x2 stride-2 conv to the next stage's width; odd sizes are zero-padded. (B, H, W, C) in and out. """

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(dim)
        self.reduction = nn.Conv2d(dim, out_dim, kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _pad_to_multiple(self.norm(x.permute(0, 3, 1, 2)), (2, 2), channels_last=False)
        return self.reduction(x).permute(0, 2, 3, 1)


class MixFormerStage(nn.Module):
    """ Conv merging from the previous stage (none in the first), then the mixing blocks. """

    def __init__(
            self,
            dim: int,
            out_dim: int,
            depth: int,
            downsample: bool,
            drop_path: Sequence[float],
            **block_kwargs: Any,
    ) -> None:
        super().__init__()
        self.grad_checkpointing = False
        self.downsample = ConvMerging(dim, out_dim) if downsample else nn.Identity()
        self.blocks = nn.Sequential(*[MixingBlock(out_dim, drop_path=drop_path[i], **block_kwargs) for i in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            return checkpoint_seq(self.blocks, x)
        return self.blocks(x)


class MixFormer(nn.Module):
    """ MixFormer (and the MixFormer-Lambda hybrid) with timm's model interface. """

    def __init__(
            self,
            in_chans: int = 3,
            num_classes: int = 10,
            global_pool: str = 'avg',
            patch_size: int = 2,
            embed_dim: Union[int, Sequence[int]] = 64,
            depths: Sequence[int] = (2, 2, 8, 8),
            num_heads: Sequence[int] = (2, 4, 8, 16),
            window_size: Union[int, Sequence[int]] = (4, 4, 4, 2),
            dwconv_kernel_size: int = 3,
            mlp_ratio: float = 4.,
            qkv_bias: bool = True,
            mixer: str = 'attention',
            rel_pos_bias: bool = True,
            lambda_kwargs: Optional[Dict[str, Any]] = None,
            channel_interaction: bool = True,
            spatial_interaction: bool = True,
            sequential: bool = False,
            head_hidden_size: int = 1280,
            drop_rate: float = 0.,
            proj_drop_rate: float = 0.,
            attn_drop_rate: float = 0.,
            drop_path_rate: float = 0.,
    ) -> None:
        """
        Args:
            in_chans, num_classes: Input channels, classes.
            global_pool: 'avg' over the tokens, or '' to keep them.
            patch_size: Reduction of the stem (even).
            embed_dim: Width of the first stage (doubled per stage) or one per stage.
            depths, num_heads: Blocks and heads per stage.
            window_size: Window side, one for all stages or one per stage.
            dwconv_kernel_size, mlp_ratio, qkv_bias: Block options.
            mixer, rel_pos_bias, lambda_kwargs, channel_interaction, spatial_interaction, sequential:
                `MixingAttention` options, the same in every block (the hybrid and its ablations).
            head_hidden_size: Width of the per-token projection before pooling (1280 in MixFormer).
            drop_rate, proj_drop_rate, attn_drop_rate, drop_path_rate: Dropout before the classifier, after
                projections, on attention weights; stochastic depth (linear in depth).
        """
        super().__init__()
        num_stages = len(depths)
        embed_dims = [embed_dim * 2 ** i for i in range(num_stages)] if isinstance(embed_dim, int) else list(embed_dim)
        window_sizes = [window_size] * num_stages if isinstance(window_size, int) else list(window_size)
        for name, value in (('embed_dim', embed_dims), ('num_heads', num_heads), ('window_size', window_sizes)):
            if len(value) != num_stages:
                raise ValueError(f'{name}={value} needs one entry per stage, len(depths)={num_stages}.')
        self.num_classes = num_classes
        self.in_chans = in_chans  # timm reads it for exports (save_for_hf) and input configs
        self.global_pool = _check_global_pool(global_pool)
        self.num_features = embed_dims[-1]
        self.head_hidden_size = head_hidden_size

        self.stem = ConvStem(in_chans, embed_dims[0], patch_size)
        drop_path = torch.linspace(0, drop_path_rate, sum(depths)).split(list(depths))
        stages = []
        self.feature_info = []
        for i in range(num_stages):
            stages.append(MixFormerStage(
                dim=embed_dims[max(i - 1, 0)],
                out_dim=embed_dims[i],
                depth=depths[i],
                downsample=i > 0,
                drop_path=drop_path[i].tolist(),
                num_heads=num_heads[i],
                window_size=to_2tuple(window_sizes[i]),
                mlp_ratio=mlp_ratio,
                proj_drop=proj_drop_rate,
                dwconv_kernel_size=dwconv_kernel_size,
                mixer=mixer,
                rel_pos_bias=rel_pos_bias,
                lambda_kwargs=lambda_kwargs,
                channel_interaction=channel_interaction,
                spatial_interaction=spatial_interaction,
                sequential=sequential,
                qkv_bias=qkv_bias,
                attn_drop=attn_drop_rate,
            ))
            self.feature_info.append(dict(num_chs=embed_dims[i], reduction=patch_size * 2 ** i, module=f'stages.{i}'))
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(self.num_features)
        self.last_proj = nn.Linear(self.num_features, head_hidden_size)
        self.head_act = nn.GELU()
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(head_hidden_size, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """ PaddleClas: truncated normal (std .02) linear weights, zero biases; convs keep PyTorch's default. """
        if isinstance(module, nn.Linear):
            trunc_normal_(module.weight, std=.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    @torch.jit.ignore
    def no_weight_decay(self) -> set:
        """ The position tables: relative position biases and lambda position embeddings. """
        return {n for n, _ in self.named_parameters() if n.endswith(('relative_position_bias_table', 'pos_emb'))}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict[str, Any]:
        return dict(
            stem=r'^stem',
            blocks=r'^stages\.(\d+)' if coarse else [
                (r'^stages\.(\d+)\.downsample', (0,)),
                (r'^stages\.(\d+)\.blocks\.(\d+)', None),
                (r'^norm', (99999,)),
            ],
        )

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for stage in self.stages:
            stage.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = _check_global_pool(global_pool)
        self.head = nn.Linear(self.head_hidden_size, num_classes) if num_classes > 0 else nn.Identity()

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """ Stage outputs as (B, C, H, W) feature maps, as timm's Swin gives them. """
        if output_fmt != 'NCHW':
            raise ValueError(f"output_fmt={output_fmt!r} is not supported; use 'NCHW'.")
        intermediates = []
        take_indices, max_index = feature_take_indices(len(self.stages), indices)
        last_index = len(self.stages) - 1
        x = self.stem(x)
        stages = self.stages[:max_index + 1] if stop_early else self.stages
        for i, stage in enumerate(stages):
            x = stage(x)
            if i in take_indices:
                x_inter = self.norm(x) if norm and i == last_index else x
                intermediates.append(x_inter.permute(0, 3, 1, 2).contiguous())
        if intermediates_only:
            return intermediates
        if len(stages) == len(self.stages):
            x = self.norm(x)
        return x, intermediates

    def prune_intermediate_layers(
            self,
            indices: Union[int, List[int]] = 1,
            prune_norm: bool = False,
            prune_head: bool = True,
    ) -> List[int]:
        take_indices, max_index = feature_take_indices(len(self.stages), indices)
        self.stages = self.stages[:max_index + 1]
        if max_index < len(self.feature_info) - 1:
            self.num_features = self.feature_info[max_index]['num_chs']
        if prune_norm or max_index < len(self.feature_info) - 1:
            self.norm = nn.Identity()  # sized for the last stage
        if prune_head:
            self.last_proj = nn.Identity()
            self.head_act = nn.Identity()
            self.head_hidden_size = self.num_features
            self.reset_classifier(0, '')
        return take_indices

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """ (B, C, H, W) image to (B, H', W', num_features) tokens. """
        return self.norm(self.stages(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_act(self.last_proj(x))  # each token to head_hidden_size, then pooled
        if self.global_pool == 'avg':
            x = x.mean(dim=(1, 2))
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@readable_pretrained_errors
def _create_mixformer(variant: str, pretrained: bool = False, **kwargs: Any) -> MixFormer:
    out_indices = kwargs.pop('out_indices', (0, 1, 2, 3))
    return build_model_with_cfg(
        MixFormer,
        variant,
        pretrained,
        feature_cfg=dict(out_indices=out_indices, feature_cls='getter'),
        **kwargs,
    )


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    return cifar10_cfg(first_conv='stem.conv1.conv', classifier='head', **kwargs)


default_cfgs = generate_default_cfgs(with_weight_tags({
    'mixformer_cifar': _cfg(),
    'mixformer_norpb_cifar': _cfg(),
    'mixformer_tiny_cifar': _cfg(),
    'mixformer_lambda_cifar': _cfg(),
    'mixformer_lambda_seq_cifar': _cfg(),
    'mixformer_lambda_noint_cifar': _cfg(),
    'mixformer_lambda_nospatial_cifar': _cfg(),
    'mixformer_lambda_nochannel_cifar': _cfg(),
    'mixformer_lambda_tiny_cifar': _cfg(),
}))

CIFAR_ARGS = dict(embed_dim=64, depths=(2, 2, 6, 7), num_heads=(2, 4, 8, 16))
TINY_ARGS = dict(embed_dim=32, depths=(1, 2, 3, 2), num_heads=(1, 2, 4, 8))
LAMBDA_ARGS = dict(mixer='lambda', lambda_kwargs=dict(dim_head=16))


@register_model
def mixformer_cifar(pretrained: bool = False, **kwargs) -> MixFormer:
    """ MixFormer, widths 64-512, depths 2-2-6-7, windows 4-4-4-2 on a patch-2 stem. """
    return _create_mixformer('mixformer_cifar', pretrained=pretrained, **dict(CIFAR_ARGS, **kwargs))


@register_model
def mixformer_norpb_cifar(pretrained: bool = False, **kwargs) -> MixFormer:
    """ Ablation #5: MixFormer without the relative position bias. """
    model_args = dict(CIFAR_ARGS, rel_pos_bias=False)
    return _create_mixformer('mixformer_norpb_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def mixformer_tiny_cifar(pretrained: bool = False, **kwargs) -> MixFormer:
    """ A small MixFormer for CPU training: widths 32-256, depths 1-2-3-2. """
    return _create_mixformer('mixformer_tiny_cifar', pretrained=pretrained, **dict(TINY_ARGS, **kwargs))


@register_model
def mixformer_lambda_cifar(pretrained: bool = False, **kwargs) -> MixFormer:
    """ MixFormer-Lambda hybrid (#0): a lambda layer with learned position embeddings on each window. """
    model_args = dict(CIFAR_ARGS, **LAMBDA_ARGS)
    return _create_mixformer('mixformer_lambda_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def mixformer_lambda_seq_cifar(pretrained: bool = False, **kwargs) -> MixFormer:
    """ Ablation #1: depth-wise conv, then the lambda layer, in sequence. """
    model_args = dict(CIFAR_ARGS, **LAMBDA_ARGS, sequential=True)
    return _create_mixformer('mixformer_lambda_seq_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def mixformer_lambda_noint_cifar(pretrained: bool = False, **kwargs) -> MixFormer:
    """ Ablation #2: parallel branches without interaction. """
    model_args = dict(CIFAR_ARGS, **LAMBDA_ARGS, channel_interaction=False, spatial_interaction=False)
    return _create_mixformer('mixformer_lambda_noint_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def mixformer_lambda_nospatial_cifar(pretrained: bool = False, **kwargs) -> MixFormer:
    """ Ablation #3: no spatial interaction. """
    model_args = dict(CIFAR_ARGS, **LAMBDA_ARGS, spatial_interaction=False)
    return _create_mixformer('mixformer_lambda_nospatial_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def mixformer_lambda_nochannel_cifar(pretrained: bool = False, **kwargs) -> MixFormer:
    """ Ablation #4: no channel interaction. """
    model_args = dict(CIFAR_ARGS, **LAMBDA_ARGS, channel_interaction=False)
    return _create_mixformer('mixformer_lambda_nochannel_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def mixformer_lambda_tiny_cifar(pretrained: bool = False, **kwargs) -> MixFormer:
    """ A small MixFormer-Lambda hybrid for CPU training: widths 32-256, depths 1-2-3-2. """
    model_args = dict(TINY_ARGS, **LAMBDA_ARGS)
    return _create_mixformer('mixformer_lambda_tiny_cifar', pretrained=pretrained, **dict(model_args, **kwargs))
