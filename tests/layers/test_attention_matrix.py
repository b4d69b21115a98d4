""" Every layer's `attention_matrix` is the matrix the layer applies: A @ v reproduces its output. """
import pytest
import torch

from timm_attnzoo.layers import ATTENTION_LAYERS, CrossAttention, LambdaLayer, WindowAttention, create_attention

GRID = (4, 4)
PREFIX = 1
DIM, HEADS = 32, 4


def _layer_kwargs(attn_type):
    return {
        'linformer': dict(proj_dim=6),
        'performer': dict(num_features=16),
        'performer_relu': dict(num_features=16),
        'nystrom': dict(num_landmarks=5, residual_conv_kernel=3),
        'dilated_linear': dict(window_size=2, dilations=(1, 2), num_local_heads=2),
    }.get(attn_type, {})


@pytest.mark.parametrize('attn_type', sorted(ATTENTION_LAYERS))
def test_matrix_times_values_is_the_layer_output(attn_type):
    layer = create_attention(attn_type, DIM, HEADS, GRID, PREFIX, **_layer_kwargs(attn_type)).eval()
    x = torch.randn(2, PREFIX + GRID[0] * GRID[1], DIM)
    with torch.no_grad():
        q, k, v = layer.split_heads(x)
        matrix = layer.attention_matrix(q, k)
        assert matrix.shape == (2, HEADS, x.shape[1], x.shape[1])
        torch.testing.assert_close(matrix @ v.float(), layer.attend(q, k, v).float(), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(layer.merge_heads(matrix @ v), layer(x), rtol=1e-4, atol=1e-5)


def test_dilated_matrix_keeps_each_local_query_in_its_window():
    layer = create_attention('dilated_linear', DIM, HEADS, GRID, PREFIX, **_layer_kwargs('dilated_linear')).eval()
    q, k, _ = layer.split_heads(torch.randn(1, 17, DIM))
    matrix = layer.attention_matrix(q, k)[0]
    # head 0: regional 2x2 windows; grid token (0, 0) sees the prefix and grid tokens (0,0) (0,1) (1,0) (1,1)
    assert torch.nonzero(matrix[0, PREFIX]).flatten().tolist() == [0, 1, 2, 5, 6]
    # head 1: dilation 2; (0, 0) is with (0, 2), (2, 0), (2, 2)
    assert torch.nonzero(matrix[1, PREFIX]).flatten().tolist() == [0, 1, 3, 9, 11]
    assert (matrix[:, 0] > 0).all()  # the class token attends everywhere in every head
    torch.testing.assert_close(matrix.sum(-1), torch.ones(HEADS, 17))


def test_window_attention_matrix():
    layer = WindowAttention(DIM, HEADS, (2, 2)).eval()
    torch.nn.init.normal_(layer.relative_position_bias_table)
    x = torch.randn(3, 4, DIM)
    q, k, v = layer.split_heads(x)
    torch.testing.assert_close(layer.merge_heads(layer.attention_matrix(q, k) @ v), layer(x))


def test_cross_attention_matrix_is_over_the_context():
    layer = CrossAttention(DIM, context_dim=8, num_heads=2, head_dim=16).eval()
    latents, pixels = torch.randn(2, 5, DIM), torch.randn(2, 36, 8)
    q, k, v = layer.split_heads(latents, pixels)
    matrix = layer.attention_matrix(q, k)
    assert matrix.shape == (2, 2, 5, 36)
    torch.testing.assert_close(layer.merge_heads(matrix @ v), layer(latents, pixels))


@pytest.mark.parametrize('pos_emb,intra_depth', [('conv', 1), ('conv', 2), ('relative', 1), ('learned', 2)])
def test_lambda_matrix_times_values_is_the_layer_output(pos_emb, intra_depth):
    feat_size = (5, 6)
    layer = LambdaLayer(16, feat_size=feat_size, num_heads=2, dim_head=4, intra_depth=intra_depth, pos_emb=pos_emb, r=3)
    if layer.pos_emb is not None:
        torch.nn.init.normal_(layer.pos_emb)
    layer.eval()
    x = torch.randn(2, 16, *feat_size)
    q, k, v = layer.split_heads(x)
    matrix = layer.attention_matrix(q, k, feat_size)
    assert matrix.shape == (2, 2, 30, intra_depth * 30)
    values = v.reshape(2, v.shape[1], -1).transpose(1, 2)  # B, |u| * M, |v|
    out = (matrix @ values[:, None]).permute(0, 1, 3, 2).reshape(2, 16, *feat_size)
    torch.testing.assert_close(out, layer(x), rtol=1e-4, atol=1e-5)
    # the convolution's scope: a query's position weights are zero beyond r // 2 in either direction
    position = layer.attention_matrix(q, k, feat_size, part='position')[0, 0, 0, :30].reshape(feat_size)
    if pos_emb == 'conv':
        assert position[2:].abs().sum() == 0 and position[:, 2:].abs().sum() == 0
        assert position[:2, :2].abs().min() > 0
