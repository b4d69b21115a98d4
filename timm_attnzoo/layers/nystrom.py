""" Nystrom attention.

'Nystromformer: A Nystrom-Based Algorithm for Approximating Self-Attention' (Xiong et al. 2021), eq. 15:
    softmax(Q K^T / sqrt(d)) V  ~=  softmax(Q K~^T / sqrt(d)) Z* softmax(Q~ K^T / sqrt(d)) V
where Q~, K~ are m segment-mean landmarks and Z* approximates the Moore-Penrose pseudo-inverse of
A~ = softmax(Q~ K~^T / sqrt(d)) by the iteration of eq. 14, started from A~^T / (||A~||_1 ||A~||_inf):
    Z_{j+1} = 1/4 Z_j (13 I - A~ Z_j (15 I - A~ Z_j (7 I - A~ Z_j)))
The two outer softmax products go through SDPA; an optional depthwise convolution along the sequence
adds a skip path on V (Sec. 3.3).

When m does not divide N, the N tokens are cut into m contiguous segments whose lengths differ by at most
one, and each landmark is the mean of its own segment; no token is padded or dropped (the reference
implementation front-pads with zeros and averages the pads in). With m >= N every token is its own
landmark and the layer is exact softmax attention up to the pseudo-inverse iteration.

Numerics: A~ and the pseudo-inverse iteration run in float32 with autocast off.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .qkv_attention import QKVAttention


def segment_means(x: torch.Tensor, num_segments: int) -> torch.Tensor:
    """ x (B, h, N, d) -> means of `num_segments` contiguous segments along N, (B, h, m, d). """
    N = x.shape[-2]
    if N % num_segments == 0:  # equal segments: a mean over a reshape, and a broadcast in the backward
        return x.unflatten(-2, (num_segments, N // num_segments)).mean(dim=-2)
    segment_ids = torch.arange(N, device=x.device) * num_segments // N  # token i in segment floor(i m / N)
    # segment j holds tokens ceil(j N / m) to ceil((j + 1) N / m) - 1: lengths of a shape torch.compile knows
    starts = (torch.arange(num_segments + 1, device=x.device) * N + num_segments - 1) // num_segments
    lengths = (starts[1:] - starts[:-1]).to(x.dtype)
    sums = x.new_zeros(*x.shape[:-2], num_segments, x.shape[-1]).index_add_(-2, segment_ids, x)
    return sums / lengths[:, None]


def iterative_pinv(a: torch.Tensor, num_iterations: int) -> torch.Tensor:
    """ Moore-Penrose pseudo-inverse of each (m, m) matrix in a (..., m, m) by eq. 14 of Xiong et al.

    The iteration runs outside autograd. The result carries the gradient of the inverse at the iterate Z,
    d(A^+) = -Z dA Z, through a term that is exactly zero in value, Z - Z (A - A) Z: two products in the backward
    instead of the backward of four products per iteration. Where the iteration has converged this is the
    gradient autograd would give through it; short of that, it is the gradient of the pseudo-inverse Z stands for. """
    with torch.no_grad():
        col_norm = a.abs().sum(dim=-2).amax(dim=-1)  # ||A||_1 per matrix
        row_norm = a.abs().sum(dim=-1).amax(dim=-1)  # ||A||_inf per matrix
        z = a.transpose(-2, -1) / (col_norm * row_norm)[..., None, None]
        identity = torch.eye(a.shape[-1], device=a.device, dtype=a.dtype)
        for _ in range(num_iterations):
            az = a @ z
            z = 0.25 * z @ (13 * identity - az @ (15 * identity - az @ (7 * identity - az)))
    if not (torch.is_grad_enabled() and a.requires_grad):
        return z
    return z - z @ (a - a.detach()) @ z


class NystromAttention(QKVAttention):
    """ Multi-head attention approximated through m landmarks and an iterative pseudo-inverse. """

    def __init__(
            self,
            dim: int,
            num_heads: int = 8,
            num_landmarks: int = 64,
            pinv_iterations: int = 6,
            residual_conv_kernel: Optional[int] = 33,
            qkv_bias: bool = True,
            attn_drop: float = 0.,
            proj_drop: float = 0.,
    ) -> None:
        """
        Args:
            dim: Token width C.
            num_heads: Number of heads h.
            num_landmarks: Landmarks m (capped at N).
            pinv_iterations: Iterations of the pseudo-inverse (eq. 14).
            residual_conv_kernel: Length of the depthwise convolution on V along the sequence; None for none.
            qkv_bias: Bias in the QKV projection.
            attn_drop: Dropout on the attention weights of both SDPA products.
            proj_drop: Dropout after the output projection.
        """
        super().__init__(dim, num_heads, qkv_bias=qkv_bias, proj_drop=proj_drop)
        if num_landmarks < 1:
            raise ValueError(f'num_landmarks={num_landmarks} must be at least 1.')
        if residual_conv_kernel is not None and residual_conv_kernel % 2 == 0:
            raise ValueError(f'residual_conv_kernel={residual_conv_kernel} must be odd to keep the sequence length.')
        self.num_landmarks = num_landmarks
        self.pinv_iterations = pinv_iterations
        self.attn_drop = attn_drop

        self.residual_conv = None if residual_conv_kernel is None else nn.Conv2d(
            num_heads, num_heads, (residual_conv_kernel, 1), padding=(residual_conv_kernel // 2, 0),
            groups=num_heads, bias=False)

    def _landmarks(self, q: torch.Tensor, k: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        num_landmarks = min(self.num_landmarks, q.shape[2])
        return segment_means(q, num_landmarks), segment_means(k, num_landmarks)  # B, h, m, d

    def _landmark_kernel_pinv(self, q_landmarks: torch.Tensor, k_landmarks: torch.Tensor) -> torch.Tensor:
        """ Z* ~= pinv(softmax(Q~ K~^T / sqrt(d))), (B, h, m, m) float32 with autocast off. """
        with torch.autocast(device_type=q_landmarks.device.type, enabled=False):
            scale = self.head_dim ** -0.5
            kernel = (q_landmarks.float() @ k_landmarks.float().transpose(-2, -1) * scale).softmax(dim=-1)
            return iterative_pinv(kernel, self.pinv_iterations)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q_landmarks, k_landmarks = self._landmarks(q, k)
        dropout_p = self.attn_drop if self.training else 0.
        landmark_values = F.scaled_dot_product_attention(q_landmarks, k, v, dropout_p=dropout_p)  # B, h, m, d
        landmark_values = self._landmark_kernel_pinv(q_landmarks, k_landmarks) @ landmark_values.float()
        out = F.scaled_dot_product_attention(
            q, k_landmarks, landmark_values.to(v.dtype), dropout_p=dropout_p)  # B, h, N, d
        if self.residual_conv is not None:
            # channels-last (the h heads innermost) runs the depthwise convolution about 3x faster on CPU than the
            # head-split view of the qkv rows does, and its backward too
            out = out + self.residual_conv(v.contiguous(memory_format=torch.channels_last))
        return out

    def attention_matrix(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """ softmax(Q K~^T / sqrt(d)) Z* softmax(Q~ K^T / sqrt(d)), plus the banded matrix of the residual
        convolution on V when there is one: (B, h, N, N) float32. """
        q_landmarks, k_landmarks = self._landmarks(q, k)
        scale = self.head_dim ** -0.5
        to_landmarks = (q.float() @ k_landmarks.float().transpose(-2, -1) * scale).softmax(dim=-1)  # B, h, N, m
        from_landmarks = (q_landmarks.float() @ k.float().transpose(-2, -1) * scale).softmax(dim=-1)  # B, h, m, N
        matrix = to_landmarks @ self._landmark_kernel_pinv(q_landmarks, k_landmarks) @ from_landmarks
        if self.residual_conv is not None:
            matrix = matrix + self._residual_conv_matrix(q.shape[2]).to(matrix.dtype)
        return matrix

    def _residual_conv_matrix(self, N: int) -> torch.Tensor:
        """ The depthwise convolution along the sequence as (h, N, N): entry (n, n + j) is tap j + K // 2. """
        taps = self.residual_conv.weight[:, 0, :, 0]  # h, K
        half = taps.shape[1] // 2
        offsets = torch.arange(N, device=taps.device)[None, :] - torch.arange(N, device=taps.device)[:, None]  # m - n
        in_scope = offsets.abs() <= half
        return torch.where(in_scope, taps[:, (offsets + half).clamp(0, taps.shape[1] - 1)], taps.new_zeros(()))
