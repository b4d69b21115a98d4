""" The lambda layer against a direct evaluation of the paper's equations, and against timm's LambdaLayer. """
import pytest
import torch
from timm.layers.lambda_layer import LambdaLayer as TimmLambdaLayer

from timm_attnzoo.layers import LambdaLayer

DIM, HEADS, DIM_HEAD, H, W = 16, 2, 4, 5, 6


def position_embeddings_by_definition(layer, H, W):
    """ E (n, m, |k|, |u|) from each kind's definition, pair by pair. """
    E = torch.zeros(H * W, H * W, layer.dim_qk, layer.intra_depth, dtype=torch.float64)
    for n in range(H * W):
        for m in range(H * W):
            dy, dx = m // W - n // W, m % W - n % W  # position of m relative to n
            if layer.pos_emb_type == 'learned':
                E[n, m] = layer.pos_emb[n, m]
            elif layer.pos_emb_type == 'relative':
                E[n, m] = layer.pos_emb[dy + H - 1, dx + W - 1]
            else:
                r = layer.conv_lambda.kernel_size[0]
                if abs(dy) <= r // 2 and abs(dx) <= r // 2:  # inside the scope of the lambda convolution
                    E[n, m] = layer.conv_lambda.weight[:, :, dy + r // 2, dx + r // 2, 0]
    return E


def lambda_layer_by_definition(layer, x):
    """ y^h_n = (softmax_m(K)^T V + E_n^T V)^T q^h_n, one query position at a time (Bello 2021, Sec. 3). """
    B, _, H, W = x.shape
    h, K, V, U = layer.num_heads, layer.dim_qk, layer.dim_v, layer.intra_depth
    q, k, v = torch.split(layer.qkv(x), [h * K, K * U, V * U], dim=1)
    q = layer.norm_q(q).reshape(B, h, K, H * W).double()
    k = k.reshape(B, K, U, H * W).double()
    keys = torch.exp(k - k.amax(-1, keepdim=True))
    keys = keys / keys.sum(-1, keepdim=True)  # normalized over the context positions m
    values = layer.norm_v(v).reshape(B, V, U, H * W).double()
    E = position_embeddings_by_definition(layer, H, W)
    y = torch.zeros(B, h, V, H * W, dtype=torch.float64)
    for b in range(B):
        content_lambda = sum(keys[b, :, u] @ values[b, :, u].T for u in range(U))  # |k| x |v|
        for n in range(H * W):
            position_lambda = sum(E[n, :, :, u].T @ values[b, :, u].T for u in range(U))
            for head in range(h):
                y[b, head, :, n] = (content_lambda + position_lambda).T @ q[b, head, :, n]
    return y.reshape(B, h * V, H, W)


def _trained_like(layer):
    """ Non-trivial batch-norm statistics and affine parameters, so the check covers them. """
    with torch.no_grad():
        for norm in (layer.norm_q, layer.norm_v):
            norm.running_mean.normal_()
            norm.running_var.uniform_(0.5, 2.)
            norm.weight.normal_()
            norm.bias.normal_()
        if layer.pos_emb is not None:
            layer.pos_emb.normal_()
    return layer.eval()


@pytest.mark.parametrize('intra_depth', [1, 3])
@pytest.mark.parametrize('pos_emb', ['conv', 'relative', 'learned'])
def test_lambda_layer_is_the_papers_equations(pos_emb, intra_depth):
    layer = _trained_like(LambdaLayer(
        DIM, num_heads=HEADS, dim_head=DIM_HEAD, intra_depth=intra_depth, pos_emb=pos_emb, r=5, feat_size=(H, W)))
    x = torch.randn(2, DIM, H, W)
    with torch.no_grad():
        torch.testing.assert_close(layer(x).double(), lambda_layer_by_definition(layer, x), rtol=1e-4, atol=1e-4)


def test_lambda_convolution_covering_the_map_is_the_global_relative_embedding():
    conv = _trained_like(LambdaLayer(DIM, num_heads=HEADS, dim_head=DIM_HEAD, pos_emb='conv', r=2 * max(H, W) - 1))
    relative = _trained_like(LambdaLayer(DIM, num_heads=HEADS, dim_head=DIM_HEAD, pos_emb='relative', feat_size=(H, W)))
    state = {k: v for k, v in conv.state_dict().items() if k != 'conv_lambda.weight'}
    r = conv.conv_lambda.kernel_size[0]
    weight = conv.conv_lambda.weight[..., 0].permute(2, 3, 0, 1)  # r, r, |k|, |u|
    offset_y, offset_x = r // 2 - (H - 1), r // 2 - (W - 1)  # the table's (0, 0) is offset (-(H-1), -(W-1))
    state['pos_emb'] = weight[offset_y:offset_y + 2 * H - 1, offset_x:offset_x + 2 * W - 1]
    relative.load_state_dict(state)
    x = torch.randn(2, DIM, H, W)
    with torch.no_grad():
        torch.testing.assert_close(relative(x), conv(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('r', [5, None])
def test_timm_lambda_layer_weights_load_and_give_the_same_output(r):
    timm_layer = TimmLambdaLayer(DIM, num_heads=HEADS, dim_head=DIM_HEAD, r=r, feat_size=(H, W))
    state = timm_layer.state_dict()
    if r is not None:
        state.pop('conv_lambda.bias')  # the paper's position lambdas have no bias; zero timm's
        with torch.no_grad():
            timm_layer.conv_lambda.bias.zero_()
    else:
        state['pos_emb'] = state['pos_emb'].unsqueeze(-1)  # |u| = 1 made explicit
    layer = LambdaLayer(
        DIM, num_heads=HEADS, dim_head=DIM_HEAD, pos_emb='conv' if r else 'relative', r=r or 9, feat_size=(H, W))
    layer.load_state_dict(state)
    x = torch.randn(2, DIM, H, W)
    with torch.no_grad():
        torch.testing.assert_close(layer.eval()(x), timm_layer.eval()(x), rtol=1e-5, atol=1e-5)


def test_stride_two_pools_odd_maps_up_as_a_strided_convolution_does():
    layer = LambdaLayer(DIM, stride=2, num_heads=HEADS, dim_head=DIM_HEAD)
    assert layer(torch.randn(2, DIM, 7, 7)).shape == (2, DIM, 4, 4)


def test_bad_options_get_value_errors_naming_them():
    with pytest.raises(ValueError, match='r=4 must be odd'):
        LambdaLayer(DIM, r=4)
    with pytest.raises(ValueError, match="pos_emb='learned' needs feat_size"):
        LambdaLayer(DIM, pos_emb='learned')
    with pytest.raises(ValueError, match="pos_emb='rope'"):
        LambdaLayer(DIM, pos_emb='rope')
    with pytest.raises(ValueError, match='dim_out=16 must be divisible by num_heads=3'):
        LambdaLayer(DIM, num_heads=3)
    layer = LambdaLayer(DIM, pos_emb='relative', feat_size=(4, 4))
    with pytest.raises(ValueError, match=r'feat_size=\(4, 4\)'):
        layer(torch.randn(1, DIM, 5, 5))
