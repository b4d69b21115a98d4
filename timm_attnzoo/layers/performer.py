""" Performer attention (FAVOR+).

'Rethinking Attention with Performers' (Choromanski et al. 2021). Softmax kernel, positive random
features (Lemma 1), with x scaled by d^{-1/4} so that E[phi(q)^T phi(k)] = exp(q^T k / sqrt(d)):
    phi(x) = exp(w_i^T x - ||x||^2 / 2) / sqrt(m),   w_1..w_m orthogonal Gaussian rows (Sec. 3.2)
ReLU kernel (the generalized attention of Sec. 2.2): phi(x) = relu(w_i^T x) / sqrt(m).
Attention is then the linear contraction of eq. 5 of Katharopoulos et al., O(N m d), computed by
`favor_attention` in chunks of tokens with the features recomputed in the backward (see `favor.py`).

Numerics: the feature maps and the contraction run in float32 with autocast off. Before `exp`, each
query row subtracts the maximum of its exponents (so its largest feature is exactly 1) and the keys
subtract the maximum over (N, m) per batch and head; both are constants that cancel between numerator and
normalizer, so the estimator stays unbiased. For the same reason the feature maps leave out every factor
constant over a query row or over all keys of a head (1/sqrt(m), a query's exp(-||q||^2 / 2)), which saves
passes over the (B, h, N, m) features, the cost that dominates at small N. (The reference implementation
instead adds 1e-4 to every feature, a bias that grows with m as the shifted features shrink.) The ReLU kernel
keeps the reference's +1e-3 in its definition, since a query whose projections are all negative would otherwise
have no normalizer.

Redraws: features are a function of (`feature_seed`, redraw count) through a seeded generator, so every
rank of a distributed run draws the same ones. `step()` advances the training-step counter and redraws
every `feature_redraw_interval` steps; the owning model calls it once per training forward, outside any
gradient-checkpointed region, so a recomputed forward sees the same features. Eval never redraws.
"""
import math
from typing import Tuple

import torch

from .favor import favor_attention, key_features, key_projection, query_features
from .qkv_attention import QKVAttention

PERFORMER_KERNELS = ('softmax', 'relu')


def orthogonal_gaussian_features(num_features: int, head_dim: int, generator: torch.Generator) -> torch.Tensor:
    """ (m, d) rows: blocks of d orthogonal directions (QR of a Gaussian), each row scaled by the norm of
    an independent d-dim Gaussian so its length is chi-distributed like an i.i.d. Gaussian row.

    Q is multiplied by sign(diag(R)) to make it Haar-distributed; without it the directions are not
    isotropic and the kernel estimate keeps a bias that no number of features removes.
    """
    blocks = []
    for _ in range(math.ceil(num_features / head_dim)):
        gaussian = torch.randn(head_dim, head_dim, generator=generator)
        q, r = torch.linalg.qr(gaussian)
        blocks.append((q * torch.sign(torch.diagonal(r))).T)
    directions = torch.cat(blocks)[:num_features]
    norms = torch.randn(num_features, head_dim, generator=generator).norm(dim=1, keepdim=True)
    return directions * norms


class PerformerAttention(QKVAttention):
    """ Multi-head attention approximated with m random features per head (FAVOR+). """

    def __init__(
            self,
            dim: int,
            num_heads: int = 8,
            num_features: int = 256,
            kernel: str = 'softmax',
            feature_redraw_interval: int = 1000,
            qkv_bias: bool = True,
            attn_drop: float = 0.,
            proj_drop: float = 0.,
    ) -> None:
        """
        Args:
            dim: Token width C.
            num_heads: Number of heads h.
            num_features: Random features m.
            kernel: 'softmax' (positive features) or 'relu' (generalized kernel).
            feature_redraw_interval: Training steps between feature redraws; 0 never redraws.
            qkv_bias: Bias in the QKV projection.
            attn_drop: Unused by the approximation; accepted so blocks can pass one set of arguments.
            proj_drop: Dropout after the output projection.
        """
        super().__init__(dim, num_heads, qkv_bias=qkv_bias, proj_drop=proj_drop)
        if kernel not in PERFORMER_KERNELS:
            raise ValueError(f'kernel={kernel!r} is not one of {PERFORMER_KERNELS}.')
        if num_features < 1:
            raise ValueError(f'num_features={num_features} must be at least 1.')
        self.num_features = num_features
        self.kernel = kernel
        self.feature_redraw_interval = feature_redraw_interval

        self.register_buffer('feature_seed', torch.randint(0, 2 ** 62, ()), persistent=True)
        self.register_buffer('num_redraws', torch.zeros((), dtype=torch.long), persistent=True)
        self.register_buffer('num_steps', torch.zeros((), dtype=torch.long), persistent=True)
        self.register_buffer('projection_matrix', self._draw_features(), persistent=True)

    def _draw_features(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(int(self.feature_seed) + int(self.num_redraws))
        return orthogonal_gaussian_features(self.num_features, self.head_dim, generator)

    @torch.no_grad()
    def redraw_features(self) -> None:
        self.use_draw(int(self.num_redraws) + 1)

    @torch.no_grad()
    def use_draw(self, num_redraws: int) -> None:
        """ Set the features to those of the layer's `num_redraws`-th redraw (0: the first features). """
        self.num_redraws.fill_(num_redraws)
        self.projection_matrix.copy_(self._draw_features())

    @torch.compiler.disable
    @torch.no_grad()
    def step(self) -> None:
        """ Count one training step; redraw the features when `feature_redraw_interval` steps have passed.

        Eager under torch.compile: whether to redraw is a decision on the count's value. """
        self.num_steps += 1
        if self.feature_redraw_interval and int(self.num_steps) % self.feature_redraw_interval == 0:
            self.redraw_features()

    def projections(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """ The queries' (m, d) features with x's d^(-1/4) folded in, and the keys' (the same for ReLU; with the
        softmax kernel's -||k||^2 / 2 as one more column), float32. """
        q_projection = self.projection_matrix.float() * self.head_dim ** -0.25
        if self.kernel == 'relu':
            return q_projection, q_projection
        return q_projection, key_projection(q_projection, self.head_dim)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=q.device.type, enabled=False):
            x = favor_attention(q.float(), k.float(), v.float(), *self.projections(), self.kernel)
        return x.to(v.dtype)

    def attention_matrix(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """ phi(Q) phi(K)^T, each row divided by its sum: (B, h, N, N) float32. """
        with torch.autocast(device_type=q.device.type, enabled=False):
            q_projection, k_projection = self.projections()
            scores = query_features(q.float(), q_projection, self.kernel) @ key_features(
                k.float(), k_projection, self.kernel).transpose(-2, -1)
            return scores / scores.sum(dim=-1, keepdim=True)
