""" Window attention against softmax(Q K^T / sqrt(d) + B) V written out, with B from token coordinates. """
import torch

from timm_attnzoo.layers import WindowAttention


def test_window_attention_is_softmax_attention_with_the_relative_position_bias():
    dim, heads, (win_h, win_w) = 16, 2, (3, 4)
    layer = WindowAttention(dim, heads, (win_h, win_w)).eval()
    with torch.no_grad():
        layer.relative_position_bias_table.normal_()
    x = torch.randn(5, win_h * win_w, dim)
    q, k, v = layer.qkv(x).reshape(5, -1, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
    bias = torch.empty(heads, win_h * win_w, win_h * win_w)
    for i in range(win_h * win_w):
        for j in range(win_h * win_w):
            dy, dx = i // win_w - j // win_w + win_h - 1, i % win_w - j % win_w + win_w - 1
            bias[:, i, j] = layer.relative_position_bias_table[dy * (2 * win_w - 1) + dx]
    attn = torch.softmax(q @ k.transpose(-1, -2) / (dim // heads) ** 0.5 + bias, dim=-1)
    expected = (attn @ v).transpose(1, 2).reshape(5, -1, dim)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected)
        layer.relative_position_bias_table.zero_()
        without_bias = WindowAttention(dim, heads, (win_h, win_w), rel_pos_bias=False)
        without_bias.load_state_dict(layer.state_dict(), strict=False)
        torch.testing.assert_close(without_bias(x), layer(x))
