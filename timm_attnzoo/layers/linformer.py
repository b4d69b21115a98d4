""" Linformer attention.

'Linformer: Self-Attention with Linear Complexity' (Wang et al. 2020), eq. 7:
    head_i = softmax(Q W_i^Q (E_i K W_i^K)^T / sqrt(d_k)) F_i V W_i^V,   E_i, F_i in R^{k x n}

The projections E (keys) and F (values) mix the n tokens down to k, shared across heads (the paper's
'headwise sharing'); `share_kv=True` also ties F = E ('key-value sharing'). E and F are tied to the
sequence length, so a layer only runs at the length it was built for; `resample_linformer_projection`
carries a trained projection to another patch grid the way timm resamples position embeddings.

Cost: E projects the tokens before the key and value projections do, E (X W^K + 1 b^K) = (E X) W^K + (E 1) b^K, so
`forward` runs W^K and W^V on k rows instead of n and saves 2 (n - k) C^2 multiply-adds per sample; `attend` keeps
the paper's order for callers that hand it keys and values already projected by W^K and W^V.
"""
import math
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed

from .qkv_attention import QKVAttention


class LinformerAttention(QKVAttention):
    """ Multi-head attention over keys and values projected along the sequence from n to k. """

    def __init__(
            self,
            dim: int,
            num_heads: int = 8,
            seq_len: int = 65,
            proj_dim: int = 64,
            share_kv: bool = False,
            qkv_bias: bool = True,
            attn_drop: float = 0.,
            proj_drop: float = 0.,
    ) -> None:
        """
        Args:
            dim: Token width C.
            num_heads: Number of heads h.
            seq_len: Sequence length n the projections are built for (patches plus prefix tokens).
            proj_dim: Projected length k.
            share_kv: Use one projection for keys and values (F = E).
            qkv_bias: Bias in the QKV projection.
            attn_drop: Dropout on the attention weights.
            proj_drop: Dropout after the output projection.
        """
        super().__init__(dim, num_heads, qkv_bias=qkv_bias, proj_drop=proj_drop)
        self.seq_len = seq_len
        self.proj_dim = proj_dim
        self.share_kv = share_kv
        self.attn_drop = attn_drop

        # stored transposed, (n, k), so that resampling along n is resampling a position embedding
        self.proj_k = nn.Parameter(torch.empty(seq_len, proj_dim))
        self.proj_v = None if share_kv else nn.Parameter(torch.empty(seq_len, proj_dim))
        self.init_weights()

    def init_weights(self) -> None:
        # the reference implementation's uniform(-1/sqrt(k), 1/sqrt(k))
        bound = 1 / math.sqrt(self.proj_dim)
        nn.init.uniform_(self.proj_k, -bound, bound)
        if self.proj_v is not None:
            nn.init.uniform_(self.proj_v, -bound, bound)

    def _check_seq_len(self, N: int) -> None:
        if N != self.seq_len:
            raise ValueError(
                f'LinformerAttention was built for seq_len={self.seq_len} tokens but got N={N}. Build the model '
                f'for this input size (img_size=...) or call model.set_input_size(img_size=...), which resamples '
                f'the sequence projections; loading a checkpoint of another size resamples them too.')

    def _value_projection(self) -> torch.Tensor:
        return self.proj_k if self.proj_v is None else self.proj_v

    @staticmethod
    def _project_sequence(projection: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """ E^T x for every head at once: x (B, h, N, d) -> (B, h, k, d) as one (k, N) @ (N, h * d) product per
        sample. The heads share E, and x is a head-split view of the qkv projection's (B, N, h * d) rows, so this
        is one wide product instead of B * h narrow ones. """
        B, h, N, d = x.shape
        projected = projection.transpose(0, 1) @ x.transpose(1, 2).reshape(B, N, h * d)  # B, k, h * d
        return projected.reshape(B, -1, h, d).transpose(1, 2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        self._check_seq_len(k.shape[2])
        k = self._project_sequence(self.proj_k, k)  # B, h, k, head_dim
        v = self._project_sequence(self._value_projection(), v)  # B, h, k, head_dim
        return self._attend_projected(q, k, v)

    def _attend_projected(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """ softmax(Q (E K)^T / sqrt(d)) F V, given q (B, h, N, d) and the projected E K, F V (B, h, k, d). """
        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """ (B, L, C) -> (B, h, L, d). """
        B, L, _ = x.shape
        return x.reshape(B, L, self.num_heads, self.head_dim).transpose(1, 2)

    def _projected_keys_values(
            self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """ x (B, N, C) -> E K and F V, each (B, h, k, d), computed as (E X) W^K + (E 1) b^K: the sequence
        projection first, so W^K and W^V see k rows instead of N. weight (2C, C) and bias (2C) are the key and
        value rows of the qkv projection. """
        if self.proj_v is None:
            keys_values = self._project_rows(x, self.proj_k, weight, bias)  # B, k, 2C
            return tuple(self._split(t) for t in keys_values.chunk(2, dim=-1))
        key_weight, value_weight = weight.chunk(2)
        key_bias, value_bias = (None, None) if bias is None else bias.chunk(2)
        keys = self._project_rows(x, self.proj_k, key_weight, key_bias)
        values = self._project_rows(x, self.proj_v, value_weight, value_bias)
        return self._split(keys), self._split(values)

    @staticmethod
    def _project_rows(
            x: torch.Tensor, projection: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        """ E^T (x W^T + 1 b^T) for x (B, N, C), E (N, k): (E^T x) W^T + (E^T 1) b^T, (B, k, out). """
        out = F.linear(projection.transpose(0, 1) @ x, weight)
        return out if bias is None else out + projection.sum(0)[:, None] * bias

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None, is_causal: bool = False) -> torch.Tensor:
        """ `attend` on `split_heads(x)`, with E and F applied before the key and value projections. """
        self.reject_mask(attn_mask, is_causal)
        B, N, C = x.shape
        self._check_seq_len(N)
        if self.proj_dim >= N:  # projecting first saves nothing
            return super().forward(x)
        # splits, not slices: a split's backward is one concatenation, a slice's a zero-filled copy of the weight
        query_weight, key_value_weight = self.qkv.weight.split([C, 2 * C])
        query_bias, key_value_bias = (None, None) if self.qkv.bias is None else self.qkv.bias.split([C, 2 * C])
        q = self._split(F.linear(x, query_weight, query_bias))
        k, v = self._projected_keys_values(x, key_value_weight, key_value_bias)
        return self.merge_heads(self._attend_projected(q, k, v))

    def attention_matrix(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """ softmax(Q (E K)^T / sqrt(d)) F, (B, h, N, N): rows need not sum to one, F is free. """
        self._check_seq_len(k.shape[2])
        weights = (q @ (self.proj_k.transpose(0, 1) @ k).transpose(-2, -1) * self.head_dim ** -0.5).softmax(dim=-1)
        return weights @ self._value_projection().transpose(0, 1)  # B, h, N, N

    def set_seq_len(self, new_grid: List[int], old_grid: List[int], num_prefix_tokens: int) -> None:
        """ Resample the projections for another patch grid (see `resample_linformer_projection`). """
        self.proj_k = nn.Parameter(resample_linformer_projection(self.proj_k.data, new_grid, old_grid, num_prefix_tokens))
        if self.proj_v is not None:
            self.proj_v = nn.Parameter(resample_linformer_projection(self.proj_v.data, new_grid, old_grid, num_prefix_tokens))
        self.seq_len = self.proj_k.shape[0]


def resample_linformer_projection(
        projection: torch.Tensor,
        new_grid: List[int],
        old_grid: List[int],
        num_prefix_tokens: int,
) -> torch.Tensor:
    """ Resample a (n, k) sequence projection from one patch grid to another.

    The rows of the grid tokens are interpolated over the 2-D grid like a position embedding (timm's
    `resample_abs_pos_embed`), prefix-token rows are kept, and the grid rows are scaled by
    old_tokens / new_tokens so that each projected token stays a sum of the same magnitude.
    """
    if list(new_grid) == list(old_grid):
        return projection
    resampled = resample_abs_pos_embed(
        projection.unsqueeze(0), new_size=new_grid, old_size=old_grid, num_prefix_tokens=num_prefix_tokens)[0]
    scale = (old_grid[0] * old_grid[1]) / (new_grid[0] * new_grid[1])
    return torch.cat([resampled[:num_prefix_tokens], resampled[num_prefix_tokens:] * scale])
