""" Exact softmax attention.

'Attention Is All You Need' (Vaswani et al. 2017), eq. 1:
    Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V

timm's `Attention` (fused QKV projection) with `F.scaled_dot_product_attention` always on, whatever
`TIMM_FUSED_ATTN` says: the zoo's baseline must be the fastest exact attention the backend has. It has the
zoo's `split_heads` / `attend` / `attention_matrix` / `merge_heads` too (see `QKVAttention`), so its q, k, v
and maps are read the same way as the efficient layers'.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from timm.layers import Attention


class SoftmaxAttention(Attention):
    """ Multi-head softmax self-attention on tokens (B, N, C) through SDPA. """

    def __init__(self, dim: int, num_heads: int = 8, **kwargs) -> None:
        if kwargs.get('gated'):
            raise ValueError('gated=True is not supported: the gate reads the input, so heads alone do not give the output.')
        super().__init__(dim, num_heads=num_heads, **kwargs)
        self.fused_attn = True

    def split_heads(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ (B, N, C) -> q, k (after the qk norms), v, each (B, h, N, d). """
        B, N, _ = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        return self.q_norm(q), self.k_norm(k), v

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop.p if self.training else 0.)

    def attention_matrix(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """ softmax(q k^T / sqrt(d)), (B, h, N, N). """
        return (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """ (B, h, N, d) -> (B, N, C) through the scale norm and the output projection, as timm's forward. """
        B, h, N, d = x.shape
        return self.proj_drop(self.proj(self.norm(x.transpose(1, 2).reshape(B, N, h * d))))
