""" Dilated-window softmax heads fused with global linear-attention heads.

After 'Fusion of Regional and Sparse Attention in Vision Transformers' (Ibtehaz et al. 2024), which mixes
regional windows with atrous (dilated) windows so a layer sees both the neighbourhood and the whole
image sparsely. Here the heads are split:
  * local heads: softmax attention inside w x w windows of the patch grid whose members are `dilation`
    patches apart; the local heads are shared out evenly over `dilations`, so (1, 2) gives one group of
    regional windows and one of atrous windows. Prefix tokens (the class token) act as global tokens:
    every window also attends to them, and they attend to every token.
  * global heads: linear attention over all tokens with phi(x) = elu(x) + 1 ('Transformers are RNNs',
    Katharopoulos et al. 2020, eq. 7), float32 with autocast off.
Cost is O(N (w^2 + P) d) for the local heads and O(N d^2) for the global ones: linear in N.
A grid that w * dilation does not divide is padded; padded keys are masked out and padded queries cropped.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .linear_attention import linear_attention
from .qkv_attention import QKVAttention


def dilated_window_partition(x: torch.Tensor, window_size: int, dilation: int) -> torch.Tensor:
    """ (B, h, H, W, d), H and W multiples of window_size * dilation -> (B, h, num_windows, w*w, d). """
    B, h, H, W, d = x.shape
    span = window_size * dilation
    x = x.view(B, h, H // span, window_size, dilation, W // span, window_size, dilation, d)
    x = x.permute(0, 1, 2, 4, 5, 7, 3, 6, 8)  # B, h, blocks_h, dil_h, blocks_w, dil_w, w, w, d
    return x.reshape(B, h, -1, window_size * window_size, d)


def dilated_window_reverse(windows: torch.Tensor, window_size: int, dilation: int, grid: Tuple[int, int]) -> torch.Tensor:
    """ Inverse of `dilated_window_partition`: (B, h, num_windows, w*w, d) -> (B, h, H, W, d). """
    B, h, _, _, d = windows.shape
    span = window_size * dilation
    x = windows.view(B, h, grid[0] // span, dilation, grid[1] // span, dilation, window_size, window_size, d)
    x = x.permute(0, 1, 2, 6, 3, 4, 7, 5, 8)
    return x.reshape(B, h, grid[0], grid[1], d)


class DilatedLinearAttention(QKVAttention):
    """ Softmax heads in dilated windows of the patch grid plus linear-attention heads over all tokens. """

    def __init__(
            self,
            dim: int,
            num_heads: int = 8,
            grid_size: Sequence[int] = (8, 8),
            num_prefix_tokens: int = 1,
            num_local_heads: Optional[int] = None,
            window_size: int = 4,
            dilations: Sequence[int] = (1, 2),
            qkv_bias: bool = True,
            attn_drop: float = 0.,
            proj_drop: float = 0.,
    ) -> None:
        """
        Args:
            dim: Token width C.
            num_heads: Number of heads h.
            grid_size: Patch grid (H, W) the tokens after the prefix are laid out on.
            num_prefix_tokens: Class and register tokens P before the grid tokens.
            num_local_heads: Heads with dilated-window softmax attention (default h // 2); the rest are linear.
            window_size: Window side w, in grid positions.
            dilations: Spacing between window members, one per group of local heads.
            qkv_bias: Bias in the QKV projection.
            attn_drop: Dropout on the window attention weights.
            proj_drop: Dropout after the output projection.
        """
        super().__init__(dim, num_heads, qkv_bias=qkv_bias, proj_drop=proj_drop)
        num_local_heads = num_heads // 2 if num_local_heads is None else num_local_heads
        if not 0 <= num_local_heads <= num_heads:
            raise ValueError(f'num_local_heads={num_local_heads} must be between 0 and num_heads={num_heads}.')
        if num_local_heads and num_local_heads % len(dilations):
            raise ValueError(
                f'num_local_heads={num_local_heads} must be divisible by len(dilations)={len(dilations)}.')
        self.grid_size = tuple(grid_size)
        self.num_prefix_tokens = num_prefix_tokens
        self.num_local_heads = num_local_heads
        self.window_size = window_size
        self.dilations = tuple(dilations)
        self.attn_drop = attn_drop

        for dilation in self.dilations:
            self.register_buffer(f'window_mask_{dilation}', self._window_mask(dilation), persistent=False)

    def _padded_grid(self, dilation: int) -> Tuple[int, int]:
        span = self.window_size * dilation
        return math.ceil(self.grid_size[0] / span) * span, math.ceil(self.grid_size[1] / span) * span

    def _window_mask(self, dilation: int) -> torch.Tensor:
        """ (num_windows, w*w queries, P + w*w keys), True = attend: prefix keys always, real grid keys,
        and every key for padded queries (their outputs are cropped; this keeps their softmax finite). """
        H, W = self.grid_size
        padded = self._padded_grid(dilation)
        is_real = torch.zeros(padded, dtype=torch.bool)
        is_real[:H, :W] = True
        is_real = dilated_window_partition(is_real[None, None, :, :, None], self.window_size, dilation)[0, 0, :, :, 0]
        key_real = torch.cat([is_real.new_ones(is_real.shape[0], self.num_prefix_tokens), is_real], dim=1)
        return key_real[:, None, :] | ~is_real[:, :, None]

    def _local_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dilation: int) -> torch.Tensor:
        """ q, k, v (B, h_group, N, d) -> (B, h_group, N, d). """
        B, h, N, d = q.shape
        P, (H, W) = self.num_prefix_tokens, self.grid_size
        padded = self._padded_grid(dilation)
        dropout_p = self.attn_drop if self.training else 0.

        def to_windows(t: torch.Tensor) -> torch.Tensor:
            grid = t[:, :, P:].reshape(B, h, H, W, d)
            grid = F.pad(grid, (0, 0, 0, padded[1] - W, 0, padded[0] - H))
            return dilated_window_partition(grid, self.window_size, dilation)  # B, h, windows, w*w, d

        q_win, k_win, v_win = to_windows(q), to_windows(k), to_windows(v)
        num_windows = q_win.shape[2]
        k_win = torch.cat([k[:, :, None, :P].expand(-1, -1, num_windows, -1, -1), k_win], dim=3)
        v_win = torch.cat([v[:, :, None, :P].expand(-1, -1, num_windows, -1, -1), v_win], dim=3)
        out = F.scaled_dot_product_attention(
            q_win, k_win, v_win, attn_mask=getattr(self, f'window_mask_{dilation}'), dropout_p=dropout_p)
        out = dilated_window_reverse(out, self.window_size, dilation, padded)[:, :, :H, :W].reshape(B, h, H * W, d)
        prefix_out = F.scaled_dot_product_attention(q[:, :, :P], k, v, dropout_p=dropout_p)  # B, h, P, d
        return torch.cat([prefix_out, out], dim=2)

    def _check_num_tokens(self, N: int) -> None:
        expected = self.num_prefix_tokens + self.grid_size[0] * self.grid_size[1]
        if N != expected:
            raise ValueError(
                f'DilatedLinearAttention was built for a {self.grid_size[0]}x{self.grid_size[1]} patch grid plus '
                f'{self.num_prefix_tokens} prefix tokens ({expected} tokens) but got N={N}. Build the model for '
                f'this input size (img_size=...) or call model.set_input_size(img_size=...).')

    def _head_groups(self) -> List[Tuple[slice, Optional[int]]]:
        """ (heads, dilation) of each group of local heads, then (heads, None) for the linear heads. """
        groups = []
        if self.num_local_heads:
            size = self.num_local_heads // len(self.dilations)
            groups += [(slice(i * size, (i + 1) * size), dilation) for i, dilation in enumerate(self.dilations)]
        if self.num_local_heads < self.num_heads:
            groups.append((slice(self.num_local_heads, self.num_heads), None))
        return groups

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        self._check_num_tokens(q.shape[2])
        outputs: List[torch.Tensor] = []
        for heads, dilation in self._head_groups():
            if dilation is not None:
                outputs.append(self._local_attention(q[:, heads], k[:, heads], v[:, heads], dilation))
                continue
            with torch.autocast(device_type=q.device.type, enabled=False):
                linear_out = linear_attention(
                    F.elu(q[:, heads].float()) + 1, F.elu(k[:, heads].float()) + 1, v[:, heads].float())
            outputs.append(linear_out.to(v.dtype))
        return torch.cat(outputs, dim=1)

    def _same_window(self, dilation: int) -> torch.Tensor:
        """ (N, N) True where query n may attend to key m: prefix queries to every key, grid queries to the
        prefix keys and to the keys of their own dilated window. """
        P, (H, W) = self.num_prefix_tokens, self.grid_size
        span = self.window_size * dilation
        rows, cols = torch.meshgrid(torch.arange(H), torch.arange(W), indexing='ij')
        window_id = torch.stack([rows // span, rows % dilation, cols // span, cols % dilation], dim=-1).reshape(H * W, 4)
        allowed = torch.ones(P + H * W, P + H * W, dtype=torch.bool)
        allowed[P:, P:] = (window_id[:, None] == window_id[None, :]).all(dim=-1)
        return allowed

    def attention_matrix(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """ Per head group: the window softmax scattered to (N, N), or elu(Q)+1 (elu(K)+1)^T with each row
        divided by its sum; (B, h, N, N) float32. """
        self._check_num_tokens(q.shape[2])
        matrices = []
        for heads, dilation in self._head_groups():
            q_group, k_group = q[:, heads].float(), k[:, heads].float()
            if dilation is not None:
                scores = q_group @ k_group.transpose(-2, -1) * self.head_dim ** -0.5
                allowed = self._same_window(dilation).to(q.device)
                matrices.append(scores.masked_fill(~allowed, float('-inf')).softmax(dim=-1))
                continue
            scores = (F.elu(q_group) + 1) @ (F.elu(k_group) + 1).transpose(-2, -1)
            matrices.append(scores / scores.sum(dim=-1, keepdim=True))
        return torch.cat(matrices, dim=1)

    def set_grid_size(self, grid_size: Sequence[int]) -> None:
        """ Re-lay the windows for another patch grid (the layer has no grid-shaped parameters). """
        self.grid_size = tuple(grid_size)
        for dilation in self.dilations:
            self.register_buffer(f'window_mask_{dilation}', self._window_mask(dilation), persistent=False)
