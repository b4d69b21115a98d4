""" The normalized linear-attention contraction shared by the kernelized mechanisms.

'Transformers are RNNs' (Katharopoulos et al. 2020), eq. 5, with feature maps phi already applied:
    out_i = phi(q_i)^T (sum_j phi(k_j) v_j^T) / phi(q_i)^T (sum_j phi(k_j))
Cost is O(N m d) instead of O(N^2 d) once N is large enough for that to matter. Callers pass float32 features: the sums over N lose too much
precision in bf16/fp16.
"""
import torch
import torch.nn.functional as F


def linear_attention(q_features: torch.Tensor, k_features: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """ q_features (B, h, N, m), k_features (B, h, M, m), v (B, h, M, d) -> (B, h, N, d).

    The normalizer rides along as a column of ones appended to v, so one product gives both the numerator and
    phi(q_i)^T sum_j phi(k_j). The products are associated the cheaper way: phi(Q) (phi(K)^T [V, 1]) costs
    (N + M) m (d + 1) multiply-adds, (phi(Q) phi(K)^T) [V, 1] costs N M (m + d + 1); the second wins for short
    sequences (N = M < 2 m (d + 1) / (m + d + 1), 102 tokens for m = 256, d = 64), where the N x M matrix is small. """
    N, M, m = q_features.shape[-2], k_features.shape[-2], q_features.shape[-1]
    v_and_ones = F.pad(v, (0, 1), value=1.)  # B, h, M, d + 1
    d1 = v_and_ones.shape[-1]
    if N * M * (m + d1) < (N + M) * m * d1:
        out = (q_features @ k_features.transpose(-2, -1)) @ v_and_ones  # B, h, N, d + 1
    else:
        out = q_features @ (k_features.transpose(-2, -1) @ v_and_ones)
    return out[..., :-1] / out[..., -1:]
