""" Perceiver and Perceiver IO for images.

'Perceiver: General Perception with Iterative Attention' (Jaegle et al. 2021):
  * the input is a byte array of M = H * W pixels, each its channels and Fourier features of its position
    (Sec. 3.2): per axis d, [x_d, sin(f_k pi x_d), cos(f_k pi x_d)] with x_d in [-1, 1] and K bands f_k spaced
    equally in [1, mu / 2], mu the max frequency. They are computed once per input size and kept;
  * a learned latent array (N x D) cross-attends to the pixels, at O(M N) (Sec. 2.1), and a latent
    transformer follows; cross-attend + latent transformer repeats `depth` times, the repeats optionally
    sharing weights with each other (all but the first, Sec. 2);
  * the classifier reads the average of the latents (global_pool='avg').
'Perceiver IO: A General Architecture for Structured Inputs & Outputs' (Jaegle et al. 2022), Sec. 2: the
same encoder, and a decoder in which a learned output query cross-attends to the latents
(global_pool='query'), the logits a linear map of what it reads.

The blocks are laid out as perceiver-pytorch's, the implementation the seed codebase trained: pre-norm,
no bias on the q and kv projections, a GEGLU MLP (timm's `GluMlp` with a GELU gate, 8 D wide before the
gate: perceiver-pytorch's mult=4), a LayerNorm after the average, and a decoder that is one
cross-attention without residual or MLP. For the same hyperparameters the parameter counts are the same.

Defaults are the seed's CIFAR-10 configurations:
  * perceiver_cifar ('Large'): depth 4, 32 latents of width 64, 1 cross head and 8 latent heads of width
    32, 2 latent blocks per cross-attend, 6 bands, mu = 10.
  * perceiver_io_cifar: one cross-attend and 2 latent blocks (perceiver-pytorch's PerceiverIO depth=2), 32
    latents of width 64, 1 cross head and 8 latent heads of width 128, a 10-wide output query. The seed's
    STL-10 and Tiny ImageNet runs are keyword arguments (docs/models.md).
"""
from typing import Any, Dict, List, Optional, Tuple, Type, Union

import torch
import torch.nn as nn
from timm.layers import DropPath, GluMlp, calculate_drop_path_rates, trunc_normal_
from timm.layers.pos_embed_sincos import build_fourier_pos_embed, pixel_freq_bands
from timm.models import adapt_input_conv, build_model_with_cfg, generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint

from ..layers import CrossAttention
from .input_checks import check_in_chans
from .pretrained_cfg import cifar10_cfg, readable_pretrained_errors, with_weight_tags

__all__ = ['Perceiver']

GLOBAL_POOLS = ('avg', 'query', '')


def fourier_position_features(
        feat_shape: Tuple[int, int],
        num_bands: int,
        max_freq: float,
        device: Optional[torch.device] = None,
        dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """ (H * W, 2 * (2K + 1)): per pixel and axis d, [x_d, sin(f_k pi x_d), cos(f_k pi x_d)] (Perceiver, Sec. 3.2). """
    bands = pixel_freq_bands(num_bands, max_freq, linear_bands=True, device=device)  # pi * f_k
    grid, sin, cos = build_fourier_pos_embed(
        feat_shape, bands=bands, include_grid=True, in_pixels=True, device=device, dtype=dtype)
    features = torch.cat([grid.to(dtype), sin, cos], dim=-1)  # H, W, 2, 2K + 1
    return features.reshape(feat_shape[0] * feat_shape[1], -1)


class PerceiverBlock(nn.Module):
    """ Pre-norm attention then MLP, each with a residual: cross-attention to a context when context_dim is
    given (the cross-attend), latent self-attention otherwise. """

    def __init__(
            self,
            dim: int,
            context_dim: Optional[int] = None,
            num_heads: int = 1,
            head_dim: int = 64,
            mlp_ratio: float = 8.,
            mlp_layer: Type[nn.Module] = GluMlp,
            act_layer: Type[nn.Module] = nn.GELU,
            qkv_bias: bool = False,
            proj_drop: float = 0.,
            attn_drop: float = 0.,
            drop_path: float = 0.,
            norm_layer: Type[nn.Module] = nn.LayerNorm,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.norm_context = norm_layer(context_dim) if context_dim else None
        self.attn = CrossAttention(
            dim, context_dim, num_heads=num_heads, head_dim=head_dim, qkv_bias=qkv_bias,
            attn_drop=attn_drop, proj_drop=proj_drop)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = mlp_layer(in_features=dim, hidden_features=int(dim * mlp_ratio), act_layer=act_layer, drop=proj_drop)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.norm_context is not None:
            context = self.norm_context(context)
        x = x + self.drop_path1(self.attn(self.norm1(x), context))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class PerceiverLayer(nn.Module):
    """ One cross-attend from the latents to the input array, then the latent transformer. """

    def __init__(
            self,
            dim: int,
            input_dim: int,
            self_per_cross_attn: int,
            cross_heads: int,
            cross_head_dim: int,
            latent_heads: int,
            latent_head_dim: int,
            drop_path: List[float],
            **block_kwargs: Any,
    ) -> None:
        super().__init__()
        self.cross_attend = PerceiverBlock(
            dim, input_dim, num_heads=cross_heads, head_dim=cross_head_dim, drop_path=drop_path[0], **block_kwargs)
        self.latent_blocks = nn.Sequential(*[
            PerceiverBlock(dim, num_heads=latent_heads, head_dim=latent_head_dim, drop_path=rate, **block_kwargs)
            for rate in drop_path[1:1 + self_per_cross_attn]])

    def forward(self, latents: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return self.latent_blocks(self.cross_attend(latents, inputs))


class QueryDecoder(nn.Module):
    """ Perceiver IO's decoder: a learned output query cross-attends to the latents, (B, N, D) -> (B, query_dim). """

    def __init__(
            self,
            query_dim: int,
            latent_dim: int,
            num_heads: int,
            head_dim: int,
            qkv_bias: bool = False,
            attn_drop: float = 0.,
            proj_drop: float = 0.,
            norm_layer: Type[nn.Module] = nn.LayerNorm,
    ) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.zeros(1, 1, query_dim))
        self.norm_query = norm_layer(query_dim)
        self.norm_latents = norm_layer(latent_dim)
        self.attn = CrossAttention(
            query_dim, latent_dim, num_heads=num_heads, head_dim=head_dim, qkv_bias=qkv_bias,
            attn_drop=attn_drop, proj_drop=proj_drop)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        query = self.norm_query(self.query).expand(latents.shape[0], -1, -1)
        return self.attn(query, self.norm_latents(latents))[:, 0]


class Perceiver(nn.Module):
    """ Perceiver (global_pool='avg') and Perceiver IO (global_pool='query') on images (B, C, H, W) of any size. """

    def __init__(
            self,
            in_chans: int = 3,
            num_classes: int = 10,
            global_pool: str = 'avg',
            num_freq_bands: int = 6,
            max_freq: float = 10.,
            depth: int = 4,
            num_latents: int = 32,
            latent_dim: int = 64,
            cross_heads: int = 1,
            cross_head_dim: int = 32,
            latent_heads: int = 8,
            latent_head_dim: int = 32,
            self_per_cross_attn: int = 2,
            weight_sharing: bool = False,
            decoder_query_dim: Optional[int] = None,
            mlp_ratio: float = 8.,
            mlp_layer: Type[nn.Module] = GluMlp,
            act_layer: Type[nn.Module] = nn.GELU,
            qkv_bias: bool = False,
            drop_rate: float = 0.,
            proj_drop_rate: float = 0.,
            attn_drop_rate: float = 0.,
            drop_path_rate: float = 0.,
            norm_layer: Type[nn.Module] = nn.LayerNorm,
    ) -> None:
        """
        Args:
            in_chans: Image channels C.
            num_classes: Classifier outputs; 0 for none.
            global_pool: 'avg' (Perceiver: mean of the latents), 'query' (Perceiver IO: the query decoder) or ''.
            num_freq_bands: Fourier bands K per axis.
            max_freq: Max frequency mu; the bands span [1, mu / 2].
            depth: Cross-attend + latent transformer repeats.
            num_latents: Latents N.
            latent_dim: Latent width D.
            cross_heads: Heads of the cross-attentions (and of the decoder).
            cross_head_dim: Width of each cross-attention head.
            latent_heads: Heads of the latent self-attentions.
            latent_head_dim: Width of each latent self-attention head.
            self_per_cross_attn: Latent self-attention blocks after each cross-attend.
            weight_sharing: Repeats 2..depth share the weights of repeat 2; the first keeps its own.
            decoder_query_dim: Width of Perceiver IO's output query (global_pool='query'); None for D.
            mlp_ratio: MLP hidden width over D, before GluMlp's gate halves it.
            mlp_layer: MLP of every block.
            act_layer: Activation (the gate of GluMlp).
            qkv_bias: Bias in the q and kv projections.
            drop_rate: Dropout before the classifier.
            proj_drop_rate: Dropout after the attention output projections and in the MLPs.
            attn_drop_rate: Dropout on the attention weights.
            drop_path_rate: Stochastic depth, rising linearly over the blocks.
            norm_layer: Normalization of every block.
        """
        super().__init__()
        if global_pool not in GLOBAL_POOLS:
            raise ValueError(f'global_pool={global_pool!r} is not supported; choose from {GLOBAL_POOLS}.')
        if decoder_query_dim is not None and global_pool != 'query':
            raise ValueError(f"decoder_query_dim={decoder_query_dim} needs global_pool='query', got {global_pool!r}.")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.num_freq_bands = num_freq_bands
        self.max_freq = max_freq
        self.depth = depth
        self.num_features = latent_dim
        self.grad_checkpointing = False
        self._position_cache: Optional[Tuple[Tuple[Any, ...], torch.Tensor]] = None
        input_dim = in_chans + 2 * (2 * num_freq_bands + 1)

        self.latents = nn.Parameter(torch.zeros(1, num_latents, latent_dim))
        num_layers = min(depth, 2) if weight_sharing else depth
        block_kwargs = dict(
            mlp_ratio=mlp_ratio, mlp_layer=mlp_layer, act_layer=act_layer, qkv_bias=qkv_bias,
            proj_drop=proj_drop_rate, attn_drop=attn_drop_rate, norm_layer=norm_layer)
        blocks_per_layer = 1 + self_per_cross_attn
        dpr = calculate_drop_path_rates(drop_path_rate, num_layers * blocks_per_layer)
        self.layers = nn.ModuleList([
            PerceiverLayer(
                latent_dim, input_dim, self_per_cross_attn, cross_heads, cross_head_dim, latent_heads,
                latent_head_dim, drop_path=dpr[i * blocks_per_layer:(i + 1) * blocks_per_layer], **block_kwargs)
            for i in range(num_layers)])

        if global_pool == 'query':
            decoder_query_dim = decoder_query_dim or latent_dim
            self.decoder = QueryDecoder(
                decoder_query_dim, latent_dim, cross_heads, cross_head_dim, qkv_bias=qkv_bias,
                attn_drop=attn_drop_rate, proj_drop=proj_drop_rate, norm_layer=norm_layer)
            self.head_hidden_size = decoder_query_dim
        else:
            self.decoder = None
            self.head_hidden_size = latent_dim
        self.fc_norm = norm_layer(latent_dim) if global_pool == 'avg' else nn.Identity()
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.head_hidden_size, num_classes) if num_classes > 0 else nn.Identity()

        # the linear layers keep PyTorch's init, as perceiver-pytorch's do: truncated normal at 0.02 on them
        # slows learning from the narrow pixel array markedly (tests/models/test_training.py fails with it)
        trunc_normal_(self.latents, std=.02)
        if self.decoder is not None:
            trunc_normal_(self.decoder.query, std=.02)

    @torch.jit.ignore
    def no_weight_decay(self) -> set:
        return {'latents', 'decoder.query'} if self.decoder is not None else {'latents'}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict[str, Any]:
        return dict(stem=r'^latents', blocks=[(r'^layers\.(\d+)', None), (r'^decoder|^fc_norm', (99999,))])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            if global_pool not in ('', self.global_pool):
                raise ValueError(
                    f"global_pool={global_pool!r}: this model pools with {self.global_pool!r} and can only drop "
                    f"its pooling (global_pool=''); build a new model for another.")
            if global_pool == '':
                self.decoder = None
                self.head_hidden_size = self.num_features
            self.global_pool = global_pool
        self.head = nn.Linear(self.head_hidden_size, num_classes) if num_classes > 0 else nn.Identity()

    def position_features(self, feat_shape: Tuple[int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """ (1, H * W, 2 * (2K + 1)) Fourier features, built on the first input of a size and kept for the next. """
        key = (tuple(feat_shape), device, dtype)
        if self._position_cache is None or self._position_cache[0] != key:
            features = fourier_position_features(feat_shape, self.num_freq_bands, self.max_freq, device, dtype)
            self._position_cache = (key, features.unsqueeze(0))
        return self._position_cache[1]

    def input_array(self, x: torch.Tensor) -> torch.Tensor:
        """ (B, C, H, W) image -> (B, H * W, C + 2 * (2K + 1)) byte array: each pixel's channels and position. """
        check_in_chans(x, self.in_chans)
        B, _, H, W = x.shape
        pixels = x.flatten(2).transpose(1, 2)  # B, H * W, C
        position = self.position_features((H, W), x.device, x.dtype).expand(B, -1, -1)
        return torch.cat([pixels, position], dim=-1)

    def _layer_schedule(self) -> List[nn.Module]:
        """ The layer run at each of the depth repeats: with weight sharing, the second one from then on. """
        return [self.layers[min(i, len(self.layers) - 1)] for i in range(self.depth)]

    def _run_layer(self, layer: nn.Module, latents: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and not torch.jit.is_scripting():
            return checkpoint(layer, latents, inputs)
        return layer(latents, inputs)

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            stop_early: bool = False,
            output_fmt: str = 'NLC',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """ The latent array (B, N, D) after each of the depth repeats; latents have no grid, so 'NLC' only. """
        if output_fmt != 'NLC':
            raise ValueError(f"output_fmt={output_fmt!r} is not supported: latents have no spatial grid; use 'NLC'.")
        take_indices, max_index = feature_take_indices(self.depth, indices)
        inputs = self.input_array(x)
        latents = self.latents.expand(x.shape[0], -1, -1)
        intermediates = []
        schedule = self._layer_schedule()
        for i, layer in enumerate(schedule[:max_index + 1] if stop_early else schedule):
            latents = self._run_layer(layer, latents, inputs)
            if i in take_indices:
                intermediates.append(latents)
        if intermediates_only:
            return intermediates
        return latents, intermediates

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """ (B, C, H, W) -> latents (B, N, D). """
        inputs = self.input_array(x)
        latents = self.latents.expand(x.shape[0], -1, -1)
        for layer in self._layer_schedule():
            latents = self._run_layer(layer, latents, inputs)
        return latents

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == 'avg':
            x = x.mean(dim=1)
        elif self.global_pool == 'query':
            x = self.decoder(x)
        x = self.head_drop(self.fc_norm(x))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: Perceiver) -> Dict[str, torch.Tensor]:
    """ Weights trained on another channel count: pixels enter each cross-attend through its context norm and kv
    projection, whose pixel columns are adapted as timm adapts an input conv (`adapt_input_conv`: summed for one
    channel, repeated and rescaled for more); the norm's per-channel scale and shift take the source mean. The
    Fourier-feature columns are kept. The context norm mixes pixel and position features, so unlike a conv the
    adapted model is an initialization, not the same function on a repeated gray image. """
    position_dim = 2 * (2 * model.num_freq_bands + 1)
    for key, value in state_dict.items():
        if not key.endswith(('cross_attend.norm_context.weight', 'cross_attend.norm_context.bias', 'cross_attend.attn.kv.weight')):
            continue
        source_chans = value.shape[-1] - position_dim
        if source_chans == model.in_chans:
            continue
        pixels, position = value[..., :source_chans], value[..., source_chans:]
        if value.ndim == 2:  # kv projection (out, in)
            pixels = adapt_input_conv(model.in_chans, pixels[..., None, None], base_chans=source_chans)[..., 0, 0]
        else:
            pixels = pixels.mean(-1, keepdim=True).expand(model.in_chans)
        state_dict[key] = torch.cat([pixels, position], dim=-1)
    return state_dict


@readable_pretrained_errors
def _create_perceiver(variant: str, pretrained: bool = False, **kwargs: Any) -> Perceiver:
    if kwargs.get('features_only'):
        raise ValueError(
            f'{variant} has no feature maps for features_only=True: its latents are a set without a spatial grid. '
            f"Use model.forward_intermediates(x) for the latent array after each repeat.")
    return build_model_with_cfg(Perceiver, variant, pretrained, pretrained_filter_fn=checkpoint_filter_fn, **kwargs)


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    # pixels enter the cross-attention's kv projection, no input conv: checkpoint_filter_fn adapts in_chans
    return cifar10_cfg(first_conv=None, classifier='head', **kwargs)


default_cfgs = generate_default_cfgs(with_weight_tags({
    'perceiver_cifar': _cfg(paper_ids='arXiv:2103.03206'),
    'perceiver_io_cifar': _cfg(paper_ids='arXiv:2107.14795'),
}))


@register_model
def perceiver_cifar(pretrained: bool = False, **kwargs) -> Perceiver:
    """ Perceiver, the seed's 'Large' CIFAR-10 configuration. """
    model_args = dict(
        depth=4, num_latents=32, latent_dim=64, cross_heads=1, cross_head_dim=32, latent_heads=8,
        latent_head_dim=32, self_per_cross_attn=2, num_freq_bands=6, max_freq=10.)
    return _create_perceiver('perceiver_cifar', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def perceiver_io_cifar(pretrained: bool = False, **kwargs) -> Perceiver:
    """ Perceiver IO, the seed's CIFAR-10 configuration: one cross-attend, 2 latent blocks, a learned 10-wide query. """
    model_args = dict(
        global_pool='query', depth=1, num_latents=32, latent_dim=64, cross_heads=1, cross_head_dim=128,
        latent_heads=8, latent_head_dim=128, self_per_cross_attn=2, decoder_query_dim=10, num_freq_bands=6,
        max_freq=10.)
    return _create_perceiver('perceiver_io_cifar', pretrained=pretrained, **dict(model_args, **kwargs))
