""" FAVOR+ attention computed in chunks of tokens, with the random features recomputed in the backward.

'Rethinking Attention with Performers' (Choromanski et al. 2021), Sec. 3 / Alg. 1, with the contraction of
'Transformers are RNNs' (Katharopoulos et al. 2020), eq. 5:
    out_i = phi(q_i)^T S / phi(q_i)^T z,   S = sum_j phi(k_j) v_j^T,   z = sum_j phi(k_j)
softmax kernel  phi(x) = exp(w^T x - ||x||^2 / 2 - shift),  ReLU kernel  phi(x) = relu(w^T x) + eps.

The (B, h, N, m) feature maps are the mechanism's largest tensors (m > d), and on a CPU every elementwise pass
over them is a pass over main memory. There they exist one chunk of tokens at a time, N / floor(N / m) of them
(between m and 2m), so under (2m, m) per head: the working memory does not grow with N and the layer's memory is
O(N d), as SDPA's is. On a GPU a chunk costs its forty-odd kernel launches whatever its size (a 16384-token
sequence in 64 chunks took 15x the reference implementation's time on an H100), so there the sequence is one chunk and
the memory O(N m), as the reference implementation's is. The forward sums S and z
over key chunks, then applies them to query chunks. The backward recomputes each chunk's features rather than
keeping them (when the sequence is a single chunk, it keeps them: that is within the same bound):
    g_i = dout_i / (phi(q_i)^T z),   d phi(q_i) = S g_i - (g_i . out_i) z,
    dS = sum_i phi(q_i) g_i^T,   dz = -sum_i (g_i . out_i) phi(q_i),
    d phi(k_j) = dS v_j + dz,   dv_j = dS^T phi(k_j),
where g_i . out_i = phi(q_i) . (S g_i) / (phi(q_i)^T z) comes from d phi(q_i)'s first term, without out.
The softmax kernel's key shift is the maximum over all keys, kept online: when a chunk raises it, S and z so
far are scaled down by exp(old - new). Shifts are constants of the gradient: the output does not depend on them.
"""
import math
from typing import List, Optional, Tuple

import torch

from .linear_attention import linear_attention

RELU_KERNEL_EPSILON = 1e-3


def key_projection(projection: torch.Tensor, head_dim: int) -> torch.Tensor:
    """ The softmax kernel's keys' (m, d + 1) projection [w, -d^(-1/2) / 2]: against [k, ||k||^2] it gives
    w^T k - ||k d^(-1/4)||^2 / 2 in one product (x's d^(-1/4) is folded into w). """
    return torch.cat([projection, projection.new_full((projection.shape[0], 1), -0.5 * head_dim ** -0.5)], dim=-1)


def _key_exponents(k: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """ [k, ||k||^2] against the (m, d + 1) `key_projection`: (..., n, m). """
    return torch.cat([k, (k * k).sum(dim=-1, keepdim=True)], dim=-1) @ projection.T


def _relu_features(projected: torch.Tensor) -> torch.Tensor:
    """ relu(w^T x) + eps, the ReLU in place: its backward under autograd is aten's fast `threshold_backward` (a
    clamp's goes through a boolean mask, several times slower). """
    return torch.relu_(projected) + RELU_KERNEL_EPSILON


def query_features(q: torch.Tensor, projection: torch.Tensor, kernel: str) -> torch.Tensor:
    """ phi(q) (..., n, m), up to a positive factor per query (which cancels in the normalized attention). """
    projected = q @ projection.T
    if kernel == 'relu':
        return _relu_features(projected)
    return projected.sub_(projected.detach().amax(dim=-1, keepdim=True)).exp_()


def key_features(
        k: torch.Tensor, projection: torch.Tensor, kernel: str, shift: Optional[torch.Tensor] = None) -> torch.Tensor:
    """ phi(k) (..., n, m) through the keys' projection ((m, d + 1) `key_projection` for the softmax kernel); the
    exponents are shifted by `shift`, by default their maximum over these keys. """
    if kernel == 'relu':
        return _relu_features(k @ projection.T)
    exponents = _key_exponents(k, projection)
    shift = exponents.detach().amax(dim=(-2, -1), keepdim=True) if shift is None else shift
    return exponents.sub_(shift).exp_()


def _grad_at_exponents(grad_features: torch.Tensor, features: torch.Tensor, kernel: str) -> torch.Tensor:
    """ The gradient through phi at w^T x: times phi for the exponential, where w^T x > 0 (phi > eps) for ReLU. """
    if kernel == 'relu':  # aten's ReLU backward: a masked multiply through a bool tensor is ten times slower
        return torch.ops.aten.threshold_backward(grad_features, features, RELU_KERNEL_EPSILON)
    return grad_features.mul_(features)


def _chunks(n: int, chunk: int) -> List[slice]:
    return [slice(start, start + chunk) for start in range(0, n, chunk)]


def _cat_rows(chunks: List[torch.Tensor]) -> torch.Tensor:
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=-2)


def favor_context(
        k: torch.Tensor, v: torch.Tensor, k_projection: torch.Tensor, kernel: str, chunk: int,
) -> Tuple[torch.Tensor, ...]:
    """ S (B, h, m, d), z (B, h, m, 1), the keys' shift (B, h, 1, 1; zero for ReLU) and the last chunk's phi(k). """
    context = key_sum = features = None
    shift = k.new_zeros(*k.shape[:-2], 1, 1)
    for rows in _chunks(k.shape[-2], chunk):
        if kernel == 'relu':
            features = key_features(k[..., rows, :], k_projection, kernel, shift)
        else:
            exponents = _key_exponents(k[..., rows, :], k_projection)
            chunk_max = exponents.amax(dim=(-2, -1), keepdim=True)
            if context is not None:  # a larger shift: scale down what was summed under the old one
                chunk_max = torch.maximum(shift, chunk_max)
                rescale = (shift - chunk_max).exp_()
                context, key_sum = context * rescale, key_sum * rescale
            shift = chunk_max
            features = exponents.sub_(shift).exp_()
        context_update = features.transpose(-2, -1) @ v[..., rows, :]
        key_sum_update = features.sum(dim=-2).unsqueeze(-1)
        if context is None:
            context, key_sum = context_update, key_sum_update
        else:
            context, key_sum = context + context_update, key_sum + key_sum_update
    return context, key_sum, shift, features


def favor_forward(
        q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_projection: torch.Tensor, k_projection: torch.Tensor,
        kernel: str, chunk: int,
) -> Tuple[torch.Tensor, ...]:
    """ out (B, h, N, d), its normalizer phi(q_i)^T z (B, h, N, 1), S, z, the keys' shift, and the last chunk's
    phi(q) and phi(k). """
    context, key_sum, shift, k_features = favor_context(k, v, k_projection, kernel, chunk)
    outputs, normalizers = [], []
    for rows in _chunks(q.shape[-2], chunk):
        q_features = query_features(q[..., rows, :], q_projection, kernel)
        normalizers.append(q_features @ key_sum)
        outputs.append((q_features @ context).div_(normalizers[-1]))
    return _cat_rows(outputs), _cat_rows(normalizers), context, key_sum, shift, q_features, k_features


class FavorAttention(torch.autograd.Function):
    """ favor_forward with the backward of the module docstring. """

    @staticmethod
    def forward(ctx, q, k, v, q_projection, k_projection, kernel: str, chunk: int):
        out, normalizer, context, key_sum, shift, q_features, k_features = favor_forward(
            q, k, v, q_projection, k_projection, kernel, chunk)
        single_chunk = q.shape[-2] <= chunk and k.shape[-2] <= chunk
        kept = (q_features, k_features) if single_chunk else ()
        ctx.save_for_backward(q, k, v, q_projection, k_projection, normalizer, context, key_sum, shift, *kept)
        ctx.kernel, ctx.chunk = kernel, chunk
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, q_projection, k_projection, normalizer, context, key_sum, shift, *kept = ctx.saved_tensors
        kernel, chunk = ctx.kernel, ctx.chunk
        grad_q, grad_k, grad_v = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)

        grad_context, grad_key_sum = torch.zeros_like(context), torch.zeros_like(key_sum)
        for rows in _chunks(q.shape[-2], chunk):
            features = kept[0] if kept else query_features(q[..., rows, :], q_projection, kernel)
            grad_numerator = grad_out[..., rows, :] / normalizer[..., rows, :]  # g, (chunk, d)
            grad_features = grad_numerator @ context.transpose(-2, -1)  # S g, (chunk, m)
            grad_normalizer = torch.linalg.vecdot(features, grad_features).unsqueeze(-1)  # g . out, times phi^T z
            grad_normalizer.div_(normalizer[..., rows, :]).neg_()
            grad_features.addcmul_(grad_normalizer, key_sum.transpose(-2, -1))
            grad_context.add_(features.transpose(-2, -1) @ grad_numerator)
            grad_key_sum.add_(features.transpose(-2, -1) @ grad_normalizer)
            grad_q[..., rows, :] = _grad_at_exponents(grad_features, features, kernel) @ q_projection

        for rows in _chunks(k.shape[-2], chunk):
            k_rows = k[..., rows, :]
            features = kept[1] if kept else key_features(k_rows, k_projection, kernel, shift)
            grad_features = (v[..., rows, :] @ grad_context.transpose(-2, -1)).add_(grad_key_sum.transpose(-2, -1))
            grad_v[..., rows, :] = features @ grad_context
            grad_exponents = _grad_at_exponents(grad_features, features, kernel)
            grad_k_rows = grad_exponents @ k_projection[:, :k.shape[-1]]
            if kernel == 'softmax':  # the exponents' c ||k||^2 column adds 2 c k per unit of exponent
                grad_k_rows.addcmul_(k_rows, grad_exponents @ k_projection[:, -1:], value=2.)
            grad_k[..., rows, :] = grad_k_rows
        return grad_q, grad_k, grad_v, None, None, None, None


def favor_attention(
        q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_projection: torch.Tensor, k_projection: torch.Tensor,
        kernel: str,
) -> torch.Tensor:
    """ q, k, v (B, h, N, d) float32 -> (B, h, N, d). q_projection: the (m, d) features with x's d^(-1/4) folded
    in; k_projection: the same for ReLU, their `key_projection` for the softmax kernel.

    Where the N x M matrix is the cheaper way to contract (N M (m + d + 1) < (N + M) m (d + 1), short
    sequences), the features are small and `linear_attention` computes it under autograd. """
    N, M, m, d = q.shape[-2], k.shape[-2], q_projection.shape[0], q.shape[-1]
    if N * M * (m + d + 1) < (N + M) * m * (d + 1):
        return linear_attention(query_features(q, q_projection, kernel), key_features(k, k_projection, kernel), v)
    chunk = math.ceil(M / max(1, M // m)) if k.device.type == 'cpu' else max(N, M)  # see the module docstring
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        return FavorAttention.apply(q, k, v, q_projection, k_projection, kernel, chunk)
    return favor_forward(q, k, v, q_projection, k_projection, kernel, chunk)[0]
