""" The normalized linear-attention contraction shared by the kernelized mechanisms.

'Transformers are RNNs' (Katharopoulos et al. 2020), eq. 5, with feature maps phi already applied:
    out_i = phi(q_i)^T (sum_j phi(k_j) v_j^T) / phi(q_i)^T (sum_j phi(k_j))
Cost is O(N m d) instead of O(N^2 d). Callers pass float32 features: the sums over N lose too much
precision in bf16/fp16.
"""
import torch


def linear_attention(q_features: torch.Tensor, k_features: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """ q_features (B, h, N, m), k_features (B, h, M, m), v (B, h, M, d) -> (B, h, N, d). """
    kv = k_features.transpose(-2, -1) @ v  # B, h, m, d
    k_sum = k_features.sum(dim=-2, keepdim=True)  # B, h, 1, m
    normalizer = q_features @ k_sum.transpose(-2, -1)  # B, h, N, 1
    return (q_features @ kv) / normalizer
