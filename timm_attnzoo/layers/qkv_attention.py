""" What every efficient attention of the zoo shares: the fused QKV projection into heads and the output
projection, as in timm's `Attention`, around a mechanism that mixes the tokens of each head.

A mechanism is two methods on the heads: `attend(q, k, v)`, what the layer computes, and
`attention_matrix(q, k)`, the (B, h, N, N) matrix A it implies, so that A @ v equals `attend(q, k, v)`
(in eval mode). For softmax attention A is the attention itself; for the efficient ones it is the
approximation materialized, O(N^2) memory, meant for inspection at small N.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn


class QKVAttention(nn.Module):
    """ Base of the zoo's efficient attentions: tokens (B, N, C) in, (B, N, C) out. """

    def __init__(
            self,
            dim: int,
            num_heads: int = 8,
            qkv_bias: bool = True,
            proj_drop: float = 0.,
            output_proj: bool = True,
    ) -> None:
        """ output_proj=False leaves the projection to the caller (MixFormer projects after its concatenation). """
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim={dim} must be divisible by num_heads={num_heads}.')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim) if output_proj else nn.Identity()
        self.proj_drop = nn.Dropout(proj_drop)

    def split_heads(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ (B, N, C) -> q, k, v, each (B, h, N, d). """
        B, N, _ = x.shape
        return self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """ (B, h, N, d) -> (B, N, C), through the output projection if there is one. """
        B, h, N, d = x.shape
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(B, N, h * d)))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """ q, k, v (B, h, N, d) -> (B, h, N, d): the mechanism. """
        raise NotImplementedError

    def attention_matrix(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """ q, k (B, h, N, d) -> A (B, h, N, N) with A @ v == attend(q, k, v). """
        raise NotImplementedError

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None, is_causal: bool = False) -> torch.Tensor:
        self.reject_mask(attn_mask, is_causal)
        return self.merge_heads(self.attend(*self.split_heads(x)))

    def reject_mask(self, attn_mask: Optional[torch.Tensor], is_causal: bool) -> None:
        """ timm's blocks pass attn_mask / is_causal; the efficient mechanisms mix tokens without a mask. """
        if attn_mask is not None or is_causal:
            raise ValueError(f'{type(self).__name__} does not support attn_mask or is_causal.')
