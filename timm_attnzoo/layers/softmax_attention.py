""" Exact softmax attention.

'Attention Is All You Need' (Vaswani et al. 2017), eq. 1:
    Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V

timm's `Attention` (fused QKV projection) with `F.scaled_dot_product_attention` always on, whatever
`TIMM_FUSED_ATTN` says: the zoo's baseline must be the fastest exact attention the backend has.
"""
from timm.layers import Attention


class SoftmaxAttention(Attention):
    """ Multi-head softmax self-attention on tokens (B, N, C) through SDPA. """

    def __init__(self, dim: int, num_heads: int = 8, **kwargs) -> None:
        super().__init__(dim, num_heads=num_heads, **kwargs)
        self.fused_attn = True
