""" Softmax attention from one array to another: the Perceiver's cross-attention.

'Perceiver: General Perception with Iterative Attention' (Jaegle et al. 2021), Sec. 2.1: a latent array
(N x D) queries a byte array (M x C),
    Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V,   Q = latents W_q,  K = bytes W_k,  V = bytes W_v,
so the cost is O(M N) rather than O(M^2): linear in the input size, which is never attended to itself.
With no context given the array attends to itself, which is the Perceiver's latent self-attention.
Computed through `F.scaled_dot_product_attention`. Projections are laid out as perceiver-pytorch's
`Attention` (no bias on q and kv, bias on the output), the implementation the seed trained.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class CrossAttention(nn.Module):
    """ Multi-head attention of queries x (B, N, dim) over a context (B, M, context_dim): (B, N, dim) out. """

    def __init__(
            self,
            dim: int,
            context_dim: Optional[int] = None,
            num_heads: int = 1,
            head_dim: int = 64,
            qkv_bias: bool = False,
            attn_drop: float = 0.,
            proj_drop: float = 0.,
    ) -> None:
        """
        Args:
            dim: Channels D of the queries (and of the output).
            context_dim: Channels C of the context; None for self-attention (C = D).
            num_heads: Attention heads h.
            head_dim: Channels d per head; q, k and v are h * d wide whatever D and C are.
            qkv_bias: Bias in the q and kv projections.
            attn_drop: Dropout on the attention weights.
            proj_drop: Dropout after the output projection.
        """
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        inner_dim = num_heads * head_dim
        self.q = nn.Linear(dim, inner_dim, bias=qkv_bias)
        self.kv = nn.Linear(context_dim or dim, 2 * inner_dim, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(inner_dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def split_heads(
            self, x: torch.Tensor, context: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ x (B, N, dim), context (B, M, context_dim) -> q (B, h, N, d), k and v (B, h, M, d). """
        context = x if context is None else context
        B, N, _ = x.shape
        M = context.shape[1]
        q = self.q(x).reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(context).reshape(B, M, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        return q, k, v

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.)

    def attention_matrix(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """ softmax(q k^T / sqrt(d)), (B, h, N, M): each query's weights over the context. """
        return (q @ k.transpose(-2, -1) * self.head_dim ** -0.5).softmax(dim=-1)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """ (B, h, N, d) -> (B, N, dim) through the output projection. """
        B, h, N, d = x.shape
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(B, N, h * d)))

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.merge_heads(self.attend(*self.split_heads(x, context)))
