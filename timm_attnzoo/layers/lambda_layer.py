""" Lambda layer on feature maps (B, C, H, W).

'LambdaNetworks: Modeling Long-Range Interactions Without Attention' (Bello 2021), Sec. 3 and Fig. 3:
    content lambda     lambda^c   = softmax_m(K)^T V                 (|k| x |v|, shared by all positions)
    position lambdas   lambda^p_n = E_n^T V                          (|k| x |v|, one per query position n)
    output             y^h_n      = (lambda^c + lambda^p_n)^T q^h_n  (for each of the |h| query heads)
with keys softmax-normalized over the context positions m, batch norm on queries and values, and with
intra-depth |u| > 1 (Sec. 4.3) keys, values and embeddings carry an extra axis u summed in the lambdas.

The position embeddings E_nm (|k| x |u| each) come in three kinds (`pos_emb`):
  * 'conv': the lambda convolution (Sec. 4.2): E_nm = R[m - n] for |m - n| <= r // 2, a Conv3d of size
    (r, r, 1) over the values, zero outside the r x r scope; any feature size;
  * 'relative': global relative embeddings E_nm = R[m - n] over the whole (H, W) map, a (2H-1, 2W-1)
    table tied to `feat_size`;
  * 'learned': free embeddings E_nm for every pair of positions of `feat_size` (the 'embedding vectors'
    of the MixFormer-Lambda hybrid, where they take the place of MixFormer's relative position bias).

Reused from timm's `LambdaLayer` (timm.layers.lambda_layer): the fused 1x1 `qkv` projection, `norm_q` / `norm_v`, `conv_lambda`,
`pos_emb` and `pool` under the same names and initialization, and `rel_pos_indices`; with |u| = 1 and no
conv bias, a timm `LambdaLayer` state dict loads here unchanged. Extended: intra-depth |u| (timm fixes
|u| = 1), the relative path finished (timm's is marked unverified and materializes E for every batch
element; here E contracts once through einsum), learned embeddings, and no bias on the lambda
convolution (the paper's lambda^p_n = E_n^T V has none; timm's conv carries one).
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import to_2tuple, trunc_normal_
from timm.layers.lambda_layer import rel_pos_indices

POSITION_EMBEDDINGS = ('conv', 'relative', 'learned')


class LambdaLayer(nn.Module):
    """ Multi-query lambda layer with intra-depth u and conv, relative or learned position lambdas.

    The value depth is |v| = dim_out // num_heads: the |h| heads share keys and values and differ in
    their queries, so the output has |h| |v| = dim_out channels.
    """

    def __init__(
            self,
            dim: int,
            dim_out: Optional[int] = None,
            feat_size: Optional[Union[int, Tuple[int, int]]] = None,
            stride: int = 1,
            num_heads: int = 4,
            dim_head: int = 16,
            intra_depth: int = 1,
            pos_emb: str = 'conv',
            r: int = 9,
            qkv_bias: bool = False,
            device=None,
            dtype=None,
    ) -> None:
        """
        Args:
            dim: Input channels d.
            dim_out: Output channels, dim if not set; |v| = dim_out // num_heads.
            feat_size: (H, W) of the input, needed by the 'relative' and 'learned' position embeddings
                (ignored by 'conv', which takes any size).
            stride: 1, or 2 for a 2x2 average pool of the output (as in timm's `LambdaLayer`).
            num_heads: Query heads |h|.
            dim_head: Query and key depth |k|.
            intra_depth: Intra-depth |u|.
            pos_emb: Position lambdas from 'conv', 'relative' or 'learned' embeddings.
            r: Scope of the lambda convolution (odd), with pos_emb='conv'.
            qkv_bias: Bias in the query, key and value projection.
            device, dtype: Factory arguments of the parameters (timm's ByobNet passes them).
        """
        super().__init__()
        dd = {'device': device, 'dtype': dtype}
        dim_out = dim_out or dim
        if dim_out % num_heads:
            raise ValueError(f'dim_out={dim_out} must be divisible by num_heads={num_heads}.')
        if pos_emb not in POSITION_EMBEDDINGS:
            raise ValueError(f'pos_emb={pos_emb!r} is not a position embedding; choose from {POSITION_EMBEDDINGS}.')
        if pos_emb == 'conv' and r % 2 == 0:
            raise ValueError(f'r={r} must be odd: the lambda convolution is centred on each query position.')
        if pos_emb != 'conv' and feat_size is None:
            raise ValueError(f'pos_emb={pos_emb!r} needs feat_size=(H, W) of the input.')
        if stride not in (1, 2):
            raise ValueError(f'stride={stride} is not supported; use 1 or 2.')
        self.num_heads = num_heads
        self.dim_qk = dim_head
        self.dim_v = dim_out // num_heads
        self.intra_depth = intra_depth
        self.pos_emb_type = pos_emb
        # the lambda convolution works at any size; the embeddings hold the layer to one
        self.feat_size = to_2tuple(feat_size) if pos_emb != 'conv' else None

        self.qkv = nn.Conv2d(
            dim, num_heads * self.dim_qk + (self.dim_qk + self.dim_v) * intra_depth, kernel_size=1, bias=qkv_bias, **dd)
        self.norm_q = nn.BatchNorm2d(num_heads * self.dim_qk, **dd)
        self.norm_v = nn.BatchNorm2d(self.dim_v * intra_depth, **dd)
        self.conv_lambda = None
        self.pos_emb = None
        if pos_emb == 'conv':
            self.conv_lambda = nn.Conv3d(intra_depth, self.dim_qk, (r, r, 1), padding=(r // 2, r // 2, 0), bias=False, **dd)
        else:
            H, W = self.feat_size
            table_size = (2 * H - 1, 2 * W - 1) if pos_emb == 'relative' else (H * W, H * W)
            self.pos_emb = nn.Parameter(torch.empty(*table_size, self.dim_qk, intra_depth, **dd))
        if pos_emb == 'relative':
            self.register_buffer('rel_pos_indices', rel_pos_indices(self.feat_size, device=device), persistent=False)
        else:
            self.rel_pos_indices = None
        # ceil_mode: an odd map rounds up, as the strided 1x1 conv of the block's shortcut does
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True) if stride == 2 else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """ timm's `LambdaLayer` initialization: fan-in normal projections, |k|^-1/2 for the lambda conv. """
        trunc_normal_(self.qkv.weight, std=self.qkv.weight.shape[1] ** -0.5)
        if self.conv_lambda is not None:
            trunc_normal_(self.conv_lambda.weight, std=self.dim_qk ** -0.5)
        if self.pos_emb is not None:
            trunc_normal_(self.pos_emb, std=.02)

    def position_embeddings(self, feat_size: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """ E as (n, m, |k|, |u|): the 'relative' or 'learned' table, or for 'conv' the lambda convolution's
        kernel laid out densely over a `feat_size` map (zero outside the r x r scope; O(M^2), for inspection). """
        if self.conv_lambda is None:
            if self.rel_pos_indices is None:
                return self.pos_emb
            return self.pos_emb[self.rel_pos_indices[0], self.rel_pos_indices[1]]
        weight = self.conv_lambda.weight[..., 0]  # |k|, |u|, r, r
        half = weight.shape[-1] // 2
        rows, cols = torch.meshgrid(*(torch.arange(s, device=weight.device) for s in feat_size), indexing='ij')
        rows, cols = rows.reshape(-1), cols.reshape(-1)
        tap_row = rows[None, :] - rows[:, None] + half  # n, m: the kernel tap that carries m to n
        tap_col = cols[None, :] - cols[:, None] + half
        in_scope = (tap_row - half).abs().le(half) & (tap_col - half).abs().le(half)
        embeddings = weight[:, :, tap_row.clamp(0, 2 * half), tap_col.clamp(0, 2 * half)]  # |k|, |u|, n, m
        return (embeddings * in_scope).permute(2, 3, 0, 1)

    def split_heads(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ (B, C, H, W) -> q (B, |h|, |k|, M), keys softmaxed over the positions m (B, |k|, |u|, M) and
        v (B, |v|, |u|, M), with the batch norms applied. """
        B, C, H, W = x.shape
        if self.feat_size is not None and (H, W) != self.feat_size:
            raise ValueError(
                f'Input of size {(H, W)} does not match feat_size={self.feat_size} of pos_emb={self.pos_emb_type!r}; '
                f'build the layer with feat_size={(H, W)}.')
        M = H * W
        h, K, V, U = self.num_heads, self.dim_qk, self.dim_v, self.intra_depth
        q, k, v = torch.split(self.qkv(x), [h * K, K * U, V * U], dim=1)
        q = self.norm_q(q).reshape(B, h, K, M)
        k = F.softmax(k.reshape(B, K, U, M), dim=-1)  # normalized over the context positions m
        v = self.norm_v(v).reshape(B, V, U, M)
        return q, k, v

    def attention_matrix(
            self, q: torch.Tensor, k: torch.Tensor, feat_size: Tuple[int, int], part: str = 'both') -> torch.Tensor:
        """ The weights y_n = sum_m A[n, m] v_m implies: A[n, (u, m)] = q_n . (softmax(K)_m + E_nm), as
        (B, |h|, N, |u| * M) with |u| = 1 the usual (N, M); `part` 'content' or 'position' keeps one term. """
        B, h, K, M = q.shape
        matrix = 0
        if part in ('both', 'content'):
            matrix = matrix + torch.einsum('bhkn,bkum->bhnum', q, k)
        if part in ('both', 'position'):
            matrix = matrix + torch.einsum('bhkn,nmku->bhnum', q, self.position_embeddings(feat_size))
        return matrix.reshape(B, h, M, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        M = H * W
        h, K, V, U = self.num_heads, self.dim_qk, self.dim_v, self.intra_depth
        q, k, v = self.split_heads(x)

        content_lambda = torch.einsum('bkum,bvum->bkv', k, v)
        if self.conv_lambda is not None:
            # the (r, r, 1) kernel run as a 2-D convolution with the |v| channels folded into the batch:
            # (B * V, U, H, W) -> (B * V, K, H, W), the sum the Conv3d computes; a 3-D conv's bf16 weight
            # gradient comes out non-finite on CPUs with AVX512-BF16 (oneDNN in torch 2.14), and U = 1 runs faster
            conv = self.conv_lambda
            position_lambdas = F.conv2d(
                v.reshape(B * V, U, H, W), conv.weight[..., 0], padding=conv.padding[:2]).reshape(B, V, K, M)
            position_output = torch.einsum('bhkn,bvkn->bhvn', q, position_lambdas)
        else:
            position_lambdas = torch.einsum('nmku,bvum->bnkv', self.position_embeddings(), v)
            position_output = torch.einsum('bhkn,bnkv->bhvn', q, position_lambdas)
        content_output = torch.einsum('bhkn,bkv->bhvn', q, content_lambda)
        out = (content_output + position_output).reshape(B, h * V, H, W)
        return self.pool(out)
