""" Softmax attention inside non-overlapping windows, with a learned relative position bias.

'Swin Transformer' (Liu et al. 2021), eq. 4, as MixFormer's attention branch uses it:
    Attention(Q, K, V) = softmax(Q K^T / sqrt(d) + B) V,   B_ij = B_hat[pos_i - pos_j]
with B_hat a (2Wh-1)(2Ww-1) x heads table. Unlike timm's Swin `WindowAttention` there is no output
projection: MixFormer projects after concatenating its attention and convolution branches. Computed
through `F.scaled_dot_product_attention`, the bias entering as an additive float mask.
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import trunc_normal_
from timm.models.swin_transformer import get_relative_position_index

from .qkv_attention import QKVAttention


class WindowAttention(QKVAttention):
    """ Multi-head softmax attention over the tokens of each window: (B * num_windows, Wh * Ww, C) in and out. """

    def __init__(
            self,
            dim: int,
            num_heads: int,
            window_size: Tuple[int, int],
            qkv_bias: bool = True,
            attn_drop: float = 0.,
            rel_pos_bias: bool = True,
    ) -> None:
        """
        Args:
            dim: Channels C of the tokens.
            num_heads: Attention heads.
            window_size: (Wh, Ww) of the windows.
            qkv_bias: Bias in the query, key and value projection.
            attn_drop: Dropout on the attention weights.
            rel_pos_bias: Add the learned relative position bias B.
        """
        super().__init__(dim, num_heads, qkv_bias=qkv_bias, output_proj=False)
        self.window_size = tuple(window_size)
        self.attn_drop = attn_drop
        if rel_pos_bias:
            win_h, win_w = self.window_size
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * win_h - 1) * (2 * win_w - 1), num_heads))
            self.register_buffer('relative_position_index', get_relative_position_index(win_h, win_w), persistent=False)
            trunc_normal_(self.relative_position_bias_table, std=.02)
        else:
            self.relative_position_bias_table = None

    def relative_position_bias(self) -> torch.Tensor:
        """ B as (1, heads, N, N). """
        N = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(N, N, -1)
        return bias.permute(2, 0, 1).unsqueeze(0)

    def _bias(self, dtype: torch.dtype):
        return None if self.relative_position_bias_table is None else self.relative_position_bias().to(dtype)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """ q, k, v (B * num_windows, heads, Wh * Ww, head_dim) -> the same shape. """
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=self._bias(q.dtype), dropout_p=self.attn_drop if self.training else 0.)

    def attention_matrix(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """ softmax(q k^T / sqrt(d) + B) within each window, (B * num_windows, heads, Wh * Ww, Wh * Ww). """
        scores = q @ k.transpose(-2, -1) * self.head_dim ** -0.5
        bias = self._bias(q.dtype)
        return (scores if bias is None else scores + bias).softmax(dim=-1)
