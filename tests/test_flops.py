""" FLOP counts against hand counts written from each paper's formula, under the convention of
`timm_attnzoo.flops`: a multiply-add is one FLOP (bias adds not counted), other elementwise ops one per
output element, reductions one per input element, softmax 5 per element, LayerNorm 5 per element.

The hand counts are exact: every term below is an op the layer's forward runs, so they are compared with
equality rather than a tolerance, and a term the counter drops or double-counts fails the test.
"""
import math

import pytest
import timm
import torch
import torch.nn as nn
from fvcore.nn import FlopCountAnalysis

import timm_attnzoo  # noqa: F401  registers the models
from timm_attnzoo.flops import count_flops, flop_count_analysis, unsupported_ops
from timm_attnzoo.layers import ATTENTION_LAYERS, LambdaLayer, create_attention

from .conftest import ZOO_MODELS

# the layers are tested on the tokens of a 32x32 image in 4x4 patches: a class token and an 8x8 grid
DIM, HEADS, GRID, PREFIX = 48, 4, (8, 8), 1
NUM_TOKENS = PREFIX + GRID[0] * GRID[1]  # 65


def sdpa_flops(L, S, E, Ev):
    """ One head of softmax(Q K^T / sqrt(E)) V, q (L, E), k (S, E), v (S, Ev). """
    return (
        L * S * E  # Q K^T
        + L * S  # scale by 1/sqrt(E)
        + 5 * L * S  # softmax: max, subtract, exp, sum, divide
        + L * S * Ev  # A V
    )


def linear_attention_flops(N, M, m, d):
    """ One head of phi(Q) phi(K)^T [V, 1] (a column of ones carries the normalizer), phi(Q) (N, m), phi(K) (M, m),
    V (M, d), associated the cheaper way, then the division by the normalizer column. """
    quadratic, linear = N * M * (m + d + 1), (N + M) * m * (d + 1)
    return min(quadratic, linear) + N * d


def qkv_proj_flops(N, C):
    return N * C * 3 * C + N * C * C  # fused QKV projection, output projection


def softmax_attention_flops(N, C, heads):
    d = C // heads
    return qkv_proj_flops(N, C) + heads * sdpa_flops(N, N, d, d)


def linformer_flops(N, C, heads, k):
    d = C // heads
    return (
        N * C * C + N * C * C  # the query projection, the output projection
        + 2 * (k * N * C + k * C * C)  # E^T X and F^T X, (k, N) @ (N, C), then W^K and W^V on their k rows
        + 2 * (N * k + k * C + k * C)  # the biases through E and F: E^T 1 (a sum over N), times b^K, added
        + heads * sdpa_flops(N, k, d, d)  # attention of N queries over k projected keys
    )


def performer_flops(N, C, heads, m, kernel):
    d = C // heads
    scaled_projection = m * d  # w * d^(-1/4), once for all heads
    if N * N * (m + d + 1) < 2 * N * m * (d + 1):
        # short sequences: phi(Q) and phi(K) whole, then linear_attention's N x N association
        if kernel == 'softmax':
            # phi up to factors that cancel, x scaled by d^(-1/4) through w: exp(w^T x - shift) for a query,
            # exp([x, |x|^2] . [w, -d^(-1/2) / 2] - shift) for a key
            query = N * d * m + N * m + N * m + N * m  # w^T x, the row's maximum, subtract it, exp
            key = (
                N * d + N * d  # |x|^2: square, sum
                + N * (d + 1) * m  # [x, |x|^2] . [w, -d^(-1/2) / 2]
                + N * m + N * m + N * m  # the head's maximum, subtract it, exp
            )
        else:
            query = key = N * d * m + N * m + N * m  # relu(w^T x) + eps
        return qkv_proj_flops(N, C) + scaled_projection + heads * (query + key + linear_attention_flops(N, N, m, d))
    # longer ones: floor(N / m) chunks; S = sum phi(k) v^T and z = sum phi(k) over key chunks, then each query chunk
    chunks = max(1, N // m)
    if kernel == 'softmax':
        key = (
            N * d + N * d  # |x|^2
            + N * (d + 1) * m + N * m + N * m + N * m  # exponents, each chunk's maximum, subtract the shift, exp
            + (chunks - 1) * (3 + m * d + m)  # a raised shift: the new maximum, exp(old - new), S and z rescaled
        )
        query = N * d * m + N * m + N * m + N * m  # w^T x, the row's maximum, subtract it, exp
    else:
        key = query = N * d * m + N * m + N * m  # relu(w^T x) + eps
    contraction = (
        N * m * d + N * m  # phi(K)^T V and the sum of phi(K), chunk by chunk
        + (chunks - 1) * (m * d + m)  # ... accumulated
        + N * m + N * m * d + N * d  # phi(Q) z, phi(Q) S, the division
    )
    return qkv_proj_flops(N, C) + scaled_projection + heads * (query + key + contraction)


def nystrom_flops(N, C, heads, m, iterations, conv_kernel):
    d = C // heads
    per_head = (
        2 * (N * d + m * d)  # landmarks of q and k: segment sums (index_add of N*d), divide by lengths
        + sdpa_flops(m, N, d, d)  # softmax(Q~ K^T) V
        + m * m * d + m * m + 5 * m * m  # A~ = softmax(Q~ K~^T / sqrt(d))
        # pinv init: ||A~||_1 and ||A~||_inf (abs, sum, max each), their product, A~^T / product
        + 2 * (m * m + m * m + m) + 1 + m * m
        # per iteration: 4 (m x m) matmuls, 0.25 * Z, and three "c I - A Z (...)" subtractions
        + iterations * (4 * m ** 3 + m * m + 3 * m * m)
        + m * m * d  # Z* (softmax(Q~ K^T) V)
        + sdpa_flops(N, m, d, d)  # softmax(Q K~^T) (Z* ...)
    )
    if conv_kernel:
        per_head += conv_kernel * N * d + N * d  # depthwise conv of V along the sequence, residual add
    # 13 I, 15 I, 7 I: one (m, m) identity scaled per iteration, shared by every head and batch element
    shared = iterations * 3 * m * m
    return qkv_proj_flops(N, C) + heads * per_head + shared


def dilated_linear_flops(grid, prefix, C, heads, local_heads, window, dilations):
    d = C // heads
    N = prefix + grid[0] * grid[1]
    group = local_heads // len(dilations)
    local = 0
    for dilation in dilations:
        span = window * dilation
        padded = math.ceil(grid[0] / span) * span, math.ceil(grid[1] / span) * span
        num_windows = padded[0] * padded[1] // window ** 2
        # every (padded) window: w*w queries over the P prefix keys and its w*w members
        local += group * num_windows * sdpa_flops(window ** 2, prefix + window ** 2, d, d)
        local += group * sdpa_flops(prefix, N, d, d)  # prefix tokens attend to every token
    # global heads: phi(x) = elu(x) + 1 on q and k, then linear attention with m = d features
    linear = (heads - local_heads) * (2 * (N * d + N * d) + linear_attention_flops(N, N, d, d))
    return qkv_proj_flops(N, C) + local + linear


LAYER_CASES = {
    'softmax': (
        dict(), softmax_attention_flops(NUM_TOKENS, DIM, HEADS)),
    'linformer': (
        dict(proj_dim=32), linformer_flops(NUM_TOKENS, DIM, HEADS, k=32)),
    'performer': (
        dict(num_features=64), performer_flops(NUM_TOKENS, DIM, HEADS, m=64, kernel='softmax')),
    'performer_relu': (
        dict(num_features=64), performer_flops(NUM_TOKENS, DIM, HEADS, m=64, kernel='relu')),
    'nystrom': (
        dict(num_landmarks=16, pinv_iterations=6, residual_conv_kernel=33),
        nystrom_flops(NUM_TOKENS, DIM, HEADS, m=16, iterations=6, conv_kernel=33)),
    'nystrom_no_conv_uneven_segments': (
        dict(num_landmarks=10, pinv_iterations=3, residual_conv_kernel=None),
        nystrom_flops(NUM_TOKENS, DIM, HEADS, m=10, iterations=3, conv_kernel=None)),
    'dilated_linear': (
        dict(window_size=4, dilations=(1, 2), num_local_heads=2),
        dilated_linear_flops(GRID, PREFIX, DIM, HEADS, local_heads=2, window=4, dilations=(1, 2))),
    'dilated_linear_all_local': (
        dict(window_size=2, dilations=(1, 2), num_local_heads=4),
        dilated_linear_flops(GRID, PREFIX, DIM, HEADS, local_heads=4, window=2, dilations=(1, 2))),
}


def _layer(case, grid=GRID, **kwargs):
    """ The layer of a LAYER_CASES key: an attention type, maybe followed by a description. """
    attn_type = next(t for t in sorted(ATTENTION_LAYERS, key=len, reverse=True) if case.startswith(t))
    return create_attention(attn_type, DIM, HEADS, grid_size=grid, num_prefix_tokens=PREFIX, **kwargs)


@pytest.mark.parametrize('case', list(LAYER_CASES))
def test_layer_flops_match_hand_count(case):
    kwargs, expected = LAYER_CASES[case]
    assert count_flops(_layer(case, **kwargs), input_size=(NUM_TOKENS, DIM)) == expected


def test_dilated_windows_on_a_padded_grid_are_counted():
    # a 6x6 grid is padded to 8x8 for both dilations: the padded queries and keys still cost FLOPs
    layer = _layer('dilated_linear', grid=(6, 6))
    expected = dilated_linear_flops((6, 6), PREFIX, DIM, HEADS, local_heads=2, window=4, dilations=(1, 2))
    assert count_flops(layer, input_size=(PREFIX + 36, DIM)) == expected


@pytest.mark.parametrize('attn_type', sorted(ATTENTION_LAYERS))
def test_layer_flops_scale_with_batch(attn_type):
    # every per-example term is multiplied by the batch; only Nystrom's scaled identities, the Performer's
    # scaled projection (w * d^(-1/4)) and Linformer's bias terms (E^T 1) b^T are shared
    layer = _layer(attn_type)
    shared = 6 * 3 * 64 * 64 if attn_type == 'nystrom' else 0  # 6 iterations, m = min(64, N) landmarks
    if attn_type.startswith('performer'):
        shared = layer.num_features * layer.head_dim
    if attn_type == 'linformer':
        shared = 2 * (NUM_TOKENS * layer.proj_dim + layer.proj_dim * DIM)
    one = count_flops(layer, input_size=(NUM_TOKENS, DIM), batch_size=1)
    three = count_flops(layer, input_size=(NUM_TOKENS, DIM), batch_size=3)
    assert three == 3 * (one - shared) + shared


def vit_flops(img_size=32, in_chans=3, patch_size=4, embed_dim=48, depth=4, num_heads=4, mlp_ratio=4., num_classes=10):
    """ timm's pre-norm ViT with a class token, softmax attention, token pooling. """
    C, hidden = embed_dim, int(embed_dim * mlp_ratio)
    num_patches = (img_size // patch_size) ** 2
    N = num_patches + 1  # class token
    block = (
        2 * 5 * N * C  # norm1, norm2
        + softmax_attention_flops(N, C, num_heads)  # qkv, SDPA, proj
        + N * C * hidden + N * hidden * C  # fc1, fc2
        + N * hidden  # GELU
        + 2 * N * C  # two residual adds
    )
    return (
        num_patches * in_chans * patch_size ** 2 * C  # patch embedding: a conv with stride = kernel
        + N * C  # position embedding add
        + depth * block
        + 5 * N * C  # final norm
        + C * num_classes  # head on the class token
    )


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(in_chans=1, img_size=28),
    dict(embed_dim=64, depth=2, num_classes=100),
], ids=['default', 'mnist', 'wide_shallow'])
def test_vit_cifar_flops_match_hand_count(kwargs):
    model = timm.create_model('vit_cifar', **kwargs)
    input_size = (kwargs.get('in_chans', 3), kwargs.get('img_size', 32), kwargs.get('img_size', 32))
    assert count_flops(model, input_size=input_size) == vit_flops(**kwargs)


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_model_has_no_unsupported_ops(model_name):
    model = timm.create_model(model_name)
    assert unsupported_ops(model, input_size=model.pretrained_cfg['input_size']) == {}


@pytest.mark.parametrize('attn_type', sorted(ATTENTION_LAYERS))
def test_layer_has_no_unsupported_ops(attn_type):
    assert unsupported_ops(_layer(attn_type), input_size=(NUM_TOKENS, DIM)) == {}


class _IgnoredByFvcore(nn.Module):
    """ Ops in fvcore's ignore list that cost FLOPs here. """

    def forward(self, x):
        return torch.relu(x) + x.clamp(min=0.) + x.max(dim=-1, keepdim=True).values + x.amax(dim=-1, keepdim=True)


def test_ops_fvcore_ignores_are_counted():
    x = torch.randn(2, 5)
    plain = FlopCountAnalysis(_IgnoredByFvcore(), x)
    plain.unsupported_ops_warnings(False)
    assert plain.by_operator()['relu'] == plain.by_operator()['clamp'] == plain.by_operator()['max'] == 0
    by_operator = flop_count_analysis(_IgnoredByFvcore(), x).by_operator()
    assert by_operator['relu'] == 10  # one per element
    assert by_operator['clamp'] == 10
    assert by_operator['max'] == 10  # one per input element
    assert by_operator['amax'] == 10
    assert by_operator['add'] == 10 + 10 + 10  # the broadcast adds count their (2, 5) outputs


def test_broadcast_matmul_counts_batch_of_second_operand():
    # fvcore's own matmul handle counts (k, n) @ (B, h, n, d) as k*n*d, missing B*h
    class ProjectAlongSequence(nn.Module):
        def forward(self, x):
            return torch.ones(3, 7) @ x

    assert count_flops(ProjectAlongSequence(), input_size=(4, 7, 5), batch_size=2) == 2 * 4 * 3 * 7 * 5


def test_integer_ops_cost_nothing():
    class IndexArithmetic(nn.Module):
        def forward(self, x):
            ids = torch.arange(x.shape[-1]) * 3 // x.shape[-1]
            return x + ids.to(x.dtype)

    assert count_flops(IndexArithmetic(), input_size=(8,), batch_size=2) == 2 * 8  # the float add only


def lambda_layer_flops(M, dim, heads, K, V, U, pos_emb, r=None):
    """ One lambda layer on M positions (Bello 2021, Sec. 3), eval mode. """
    flops = (
        M * dim * (heads * K + K * U + V * U)  # 1x1 query, key and value projection
        + 2 * M * heads * K + 2 * M * V * U  # batch norm on queries and values (scale and shift)
        + 5 * K * U * M  # keys softmax over the positions
        + K * U * M * V  # content lambda: softmax(K)^T V
        + heads * K * M * V  # content output: lambda^c^T q
        + heads * K * M * V  # position output: lambda^p_n^T q_n
        + heads * V * M  # content + position
    )
    if pos_emb == 'conv':
        return flops + M * K * V * U * r * r  # lambda convolution: every output over its r x r x u taps
    return flops + M * M * K * U * V  # lambda^p_n = E_n^T V for every n


@pytest.mark.parametrize('pos_emb, intra_depth', [('conv', 1), ('conv', 2), ('relative', 1), ('learned', 2)])
def test_lambda_layer_flops_match_hand_count(pos_emb, intra_depth):
    dim, heads, K, (H, W), r = 32, 4, 8, (6, 5), 5
    layer = LambdaLayer(dim, num_heads=heads, dim_head=K, intra_depth=intra_depth, pos_emb=pos_emb, r=r, feat_size=(H, W))
    expected = lambda_layer_flops(H * W, dim, heads, K, dim // heads, intra_depth, pos_emb, r)
    assert count_flops(layer, input_size=(dim, H, W)) == expected


def mixing_block_flops(H, W, C, heads, window, mixer, channel=True, spatial=True, sequential=False, kernel=3):
    """ One MixFormer block on an (H, W) map that tiles into windows (Chen et al. 2022, Fig. 2; PaddleClas),
    with the seed's ablations: without channel or spatial interaction, or with the branches in sequence. """
    N, a = H * W, C // 2
    num_windows, Nw = N // window ** 2, window ** 2
    layer_norm, batch_norm = 5, 2  # per element, with affine parameters
    if mixer == 'attention':
        d = a // heads
        mixer_flops = N * a * 3 * a + num_windows * heads * (sdpa_flops(Nw, Nw, d, d) + Nw * Nw)  # + the bias
    else:
        mixer_flops = num_windows * lambda_layer_flops(Nw, a, heads, 16, a // heads, 1, 'learned')
    attention = (
        N * C * C + layer_norm * N * C  # proj_cnn, its norm
        + N * C * kernel ** 2 + batch_norm * N * C + N * C  # depth-wise conv, BN, GELU
        + N * C * a + layer_norm * N * a  # proj_attn, its norm
        + mixer_flops
        + layer_norm * N * a  # attn_norm
    )
    if sequential:
        attention += N * a * C  # output projection of the attention branch alone
    else:
        attention += (
            N * C * a  # 1x1 projection of the conv branch
            + batch_norm * N * a  # conv_norm
            + N * C * C  # output projection of the concatenation
        )
        if channel:  # global average of the conv branch; 1x1 conv, BN, GELU, 1x1 conv, sigmoid; gate the values
            attention += N * C + C * C // 8 + batch_norm * C // 8 + C // 8 + C // 8 * a + a + N * a
        if spatial:  # 1x1 conv, BN, GELU, 1x1 conv, sigmoid on the attention output; gate the conv branch
            attention += N * a * C // 16 + batch_norm * N * C // 16 + N * C // 16 + N * C // 16 + N + N * a
    mlp = N * C * 4 * C + N * 4 * C + N * 4 * C * C  # fc1, GELU, fc2
    return layer_norm * N * C + attention + N * C + layer_norm * N * C + mlp + N * C  # norms, two residual adds


@pytest.mark.parametrize('mixer, ablation', [
    ('attention', {}), ('attention', dict(rel_pos_bias=False)), ('lambda', {}), ('lambda', dict(sequential=True)),
    ('lambda', dict(channel_interaction=False)), ('lambda', dict(spatial_interaction=False)),
    ('lambda', dict(channel_interaction=False, spatial_interaction=False)),
])
def test_mixformer_block_flops_match_hand_count(mixer, ablation):
    from timm_attnzoo.models.mixformer import MixingBlock
    H, W, C, heads, window = 8, 4, 64, 4, 4
    lambda_kwargs = dict(dim_head=16) if mixer == 'lambda' else None
    block = MixingBlock(C, heads, (window, window), mixer=mixer, lambda_kwargs=lambda_kwargs, **ablation)
    count = int(flop_count_analysis(block.eval(), torch.zeros(1, H, W, C)).total())
    expected = mixing_block_flops(
        H, W, C, heads, window, mixer, channel=ablation.get('channel_interaction', True),
        spatial=ablation.get('spatial_interaction', True), sequential=ablation.get('sequential', False))
    if ablation.get('rel_pos_bias') is False:
        expected -= (H * W // window ** 2) * heads * (window ** 2) ** 2  # no bias to add
    assert count == expected

def test_einsum_is_counted_exactly_where_fvcore_reads_numpys_printed_estimate():
    class PositionOutput(nn.Module):
        def forward(self, q, position_lambdas):
            return torch.einsum('bhkn,bnkv->bhvn', q, position_lambdas)

    inputs = (torch.zeros(2, 4, 16, 37), torch.zeros(2, 37, 16, 9))
    exact = 2 * 4 * 16 * 37 * 9
    assert flop_count_analysis(PositionOutput(), inputs).total() == exact
    assert FlopCountAnalysis(PositionOutput(), inputs).total() != exact


def perceiver_block_flops(N, D, heads, head_dim, context=None, mlp_ratio=8.):
    """ One pre-norm Perceiver block: N latents of width D attend to a context of M rows of width C (with its
    own norm) given as context=(M, C), or to themselves, then a GEGLU MLP. """
    M, C = context or (N, D)
    inner, hidden = heads * head_dim, int(D * mlp_ratio)
    return (
        5 * N * D  # norm1
        + (5 * M * C if context else 0)  # norm of the context
        + N * D * inner + M * C * 2 * inner  # q, kv projections
        + heads * sdpa_flops(N, M, head_dim, head_dim)
        + N * inner * D  # output projection
        + 5 * N * D  # norm2
        + N * D * hidden + 2 * N * hidden // 2 + N * hidden // 2 * D  # fc1, GELU gate and product, fc2
        + 2 * N * D  # two residual adds
    )


def perceiver_flops(img_size, in_chans=3, global_pool='avg', num_bands=6, depth=4, N=32, D=64, cross_heads=1,
                    cross_head_dim=32, latent_heads=8, latent_head_dim=32, self_per_cross_attn=2, query_dim=None,
                    num_classes=10):
    """ Perceiver / Perceiver IO on M = H * W pixels of C + 2 (2K + 1) channels (Fourier features are built
    once per input size, so they cost a step nothing). """
    M, C = img_size ** 2, in_chans + 2 * (2 * num_bands + 1)
    layer = (
        perceiver_block_flops(N, D, cross_heads, cross_head_dim, context=(M, C))
        + self_per_cross_attn * perceiver_block_flops(N, D, latent_heads, latent_head_dim)
    )
    if global_pool == 'avg':
        head = N * D + 5 * D + D * num_classes  # mean of the latents, norm, classifier
    else:  # one query attends to the latents: norms of query and latents, q, kv, attention, projection; classifier
        Q, inner = query_dim, cross_heads * cross_head_dim
        head = (
            5 * Q + 5 * N * D + Q * inner + N * D * 2 * inner
            + cross_heads * sdpa_flops(1, N, cross_head_dim, cross_head_dim) + inner * Q + Q * num_classes)
    return depth * layer + head


PERCEIVER_IO_ARGS = dict(
    global_pool='query', depth=1, cross_head_dim=128, latent_head_dim=128, query_dim=10)


@pytest.mark.parametrize('model_name, in_chans, img_size, num_classes', [
    ('perceiver_cifar', 3, 32, 10), ('perceiver_cifar', 1, 28, 10), ('perceiver_cifar', 3, 64, 200),
    ('perceiver_io_cifar', 3, 32, 10), ('perceiver_io_cifar', 3, 96, 10),
])
def test_perceiver_flops_match_hand_count(model_name, in_chans, img_size, num_classes):
    model = timm.create_model(model_name, in_chans=in_chans, num_classes=num_classes)
    expected_args = PERCEIVER_IO_ARGS if model_name == 'perceiver_io_cifar' else {}
    expected = perceiver_flops(img_size, in_chans=in_chans, num_classes=num_classes, **expected_args)
    assert count_flops(model, input_size=(in_chans, img_size, img_size)) == expected


@pytest.mark.parametrize('model_name', ['perceiver_cifar', 'perceiver_io_cifar'])
def test_perceiver_cost_is_linear_in_pixels(model_name):
    # the pixel array is only ever attended to, never attends itself: no term grows with M^2
    model = timm.create_model(model_name)
    flops = {size: count_flops(model, input_size=(3, size, size)) for size in (32, 64, 96)}
    per_pixel = (flops[64] - flops[32]) / (64 ** 2 - 32 ** 2)
    assert flops[96] - flops[64] == per_pixel * (96 ** 2 - 64 ** 2)
