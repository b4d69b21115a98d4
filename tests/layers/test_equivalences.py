""" Exact equivalences and limits: each efficient attention against softmax attention where theory says they meet. """
import pytest
import torch

from timm_attnzoo.layers import (
    DilatedLinearAttention, LinformerAttention, NystromAttention, PerformerAttention, SoftmaxAttention,
    iterative_pinv, segment_means,
)

DIM, HEADS = 32, 4


def _tokens(num_tokens, scale=1.0):
    return torch.randn(2, num_tokens, DIM, dtype=torch.float64) * scale


def _softmax_reference():
    return SoftmaxAttention(DIM, HEADS, qkv_bias=True).double().eval()


def _same_projections(layer, reference):
    layer.qkv.load_state_dict(reference.qkv.state_dict())
    layer.proj.load_state_dict(reference.proj.state_dict())
    return layer.double().eval()


@pytest.mark.parametrize('num_tokens', [16, 17])
def test_nystrom_with_a_landmark_per_token_is_softmax_attention(num_tokens):
    reference = _softmax_reference()
    nystrom = _same_projections(
        NystromAttention(DIM, HEADS, num_landmarks=num_tokens, pinv_iterations=30, residual_conv_kernel=None), reference)
    x = _tokens(num_tokens)
    torch.testing.assert_close(nystrom(x), reference(x), rtol=0, atol=1e-4)


def test_nystrom_few_landmarks_is_only_an_approximation():
    reference = _softmax_reference()
    nystrom = _same_projections(NystromAttention(DIM, HEADS, num_landmarks=4, residual_conv_kernel=None), reference)
    x = _tokens(17, scale=3.0)
    assert (nystrom(x) - reference(x)).abs().max() > 1e-3


def test_iterative_pinv_inverts_a_softmax_matrix():
    a = torch.randn(3, 12, 12, dtype=torch.float64).softmax(dim=-1)
    torch.testing.assert_close(a @ iterative_pinv(a, 30), torch.eye(12, dtype=torch.float64).expand(3, -1, -1))


def test_iterative_pinv_gradient_is_the_inverses_once_converged():
    a = torch.randn(2, 8, 8, dtype=torch.float64).softmax(dim=-1).requires_grad_()
    weights = torch.randn(2, 8, 8, dtype=torch.float64)
    (iterative_pinv(a, 30) * weights).sum().backward()
    through_the_iterate = a.grad.clone()
    a.grad = None
    (torch.linalg.inv(a) * weights).sum().backward()
    torch.testing.assert_close(through_the_iterate, a.grad)


def test_segment_means_cover_every_token_once_when_segments_do_not_divide():
    x = torch.arange(10, dtype=torch.float64).reshape(1, 1, 10, 1)
    # 10 tokens in 4 contiguous segments of lengths 3, 2, 3, 2 (ids = i * 4 // 10)
    expected = torch.tensor([(0 + 1 + 2) / 3, (3 + 4) / 2, (5 + 6 + 7) / 3, (8 + 9) / 2], dtype=torch.float64)
    torch.testing.assert_close(segment_means(x, 4).flatten(), expected)


def test_linformer_with_identity_projections_is_softmax_attention():
    reference = _softmax_reference()
    linformer = _same_projections(LinformerAttention(DIM, HEADS, seq_len=17, proj_dim=17), reference)
    with torch.no_grad():
        linformer.proj_k.copy_(torch.eye(17))
        linformer.proj_v.copy_(torch.eye(17))
    x = _tokens(17)
    torch.testing.assert_close(linformer(x), reference(x))


@pytest.mark.parametrize('share_kv', [False, True])
@pytest.mark.parametrize('qkv_bias', [True, False])
def test_linformer_projecting_tokens_first_is_the_papers_order(share_kv, qkv_bias):
    # forward runs E (X W^K + 1 b^K) as (E X) W^K + (E 1) b^K; `attend` on `split_heads` is the paper's order
    linformer = LinformerAttention(DIM, HEADS, seq_len=17, proj_dim=8, share_kv=share_kv, qkv_bias=qkv_bias).double()
    x = _tokens(17).requires_grad_()
    papers_order = linformer.merge_heads(linformer.attend(*linformer.split_heads(x)))
    torch.testing.assert_close(linformer(x), papers_order)
    parameters = [x] + list(linformer.parameters())
    grad = torch.randn_like(papers_order)
    for ours, expected in zip(torch.autograd.grad(linformer(x), parameters, grad),
                              torch.autograd.grad(papers_order, parameters, grad)):
        torch.testing.assert_close(ours, expected)


def test_linformer_shared_projection_ties_keys_and_values():
    linformer = LinformerAttention(DIM, HEADS, seq_len=17, proj_dim=8, share_kv=True)
    assert linformer.proj_v is None
    assert sum(p.numel() for n, p in linformer.named_parameters() if n.startswith('proj_')) == 17 * 8


def test_linformer_rejects_another_sequence_length():
    linformer = LinformerAttention(DIM, HEADS, seq_len=17, proj_dim=8)
    with pytest.raises(ValueError, match='seq_len=17.*N=26'):
        linformer(torch.randn(1, 26, DIM))


@pytest.mark.parametrize('kernel', ['softmax', 'relu'])
def test_performer_kernel_names_its_features(kernel):
    layer = PerformerAttention(DIM, HEADS, num_features=16, kernel=kernel)
    assert layer.projection_matrix.shape == (16, DIM // HEADS)


def test_performer_estimate_approaches_softmax_attention_as_features_grow():
    reference = _softmax_reference()
    x = _tokens(17)

    def mean_error(num_features):
        errors = []
        for _ in range(4):
            performer = _same_projections(PerformerAttention(DIM, HEADS, num_features=num_features), reference)
            performer.projection_matrix = performer.projection_matrix.double()
            errors.append((performer(x) - reference(x)).pow(2).mean().sqrt())
        return torch.stack(errors).mean()

    assert mean_error(1024) < 0.4 * mean_error(16)


def test_performer_redraws_the_same_features_on_every_replica_and_never_in_eval():
    torch.manual_seed(1)
    rank0 = PerformerAttention(DIM, HEADS, num_features=8, feature_redraw_interval=3)
    rank1 = PerformerAttention(DIM, HEADS, num_features=8, feature_redraw_interval=3)
    rank1.load_state_dict(rank0.state_dict())  # what DDP's broadcast of rank 0's state does
    first = rank0.projection_matrix.clone()
    for _ in range(2):
        rank0.step(), rank1.step()
    torch.testing.assert_close(rank0.projection_matrix, first)
    rank0.step(), rank1.step()
    assert not torch.equal(rank0.projection_matrix, first)
    torch.testing.assert_close(rank0.projection_matrix, rank1.projection_matrix)

    rank0.eval()
    x = torch.randn(1, 9, DIM)
    torch.testing.assert_close(rank0(x), rank0(x))


def test_performer_use_draw_sets_the_features_of_that_redraw():
    layer = PerformerAttention(DIM, HEADS, num_features=8, feature_redraw_interval=1)
    draws = [layer.projection_matrix.clone()]
    for _ in range(3):
        layer.step()
        draws.append(layer.projection_matrix.clone())
    assert len({tuple(draw.flatten().tolist()) for draw in draws}) == 4
    for n in (1, 0, 3, 2):
        layer.use_draw(n)
        assert int(layer.num_redraws) == n
        torch.testing.assert_close(layer.projection_matrix, draws[n])


def test_dilated_attention_with_one_window_over_the_whole_grid_is_softmax_attention():
    reference = _softmax_reference()
    layer = _same_projections(DilatedLinearAttention(
        DIM, HEADS, grid_size=(4, 4), num_prefix_tokens=1, num_local_heads=HEADS, window_size=4, dilations=(1,)), reference)
    x = _tokens(17)
    torch.testing.assert_close(layer(x), reference(x))


def test_dilated_windows_take_every_dilation_th_patch():
    from timm_attnzoo.layers import dilated_window_partition, dilated_window_reverse
    grid = torch.arange(64.).reshape(1, 1, 8, 8, 1)
    windows = dilated_window_partition(grid, window_size=4, dilation=2)
    assert windows.shape == (1, 1, 4, 16, 1)
    torch.testing.assert_close(windows[0, 0, 0, :, 0], grid[0, 0, 0::2, 0::2, 0].flatten())
    torch.testing.assert_close(windows[0, 0, 3, :, 0], grid[0, 0, 1::2, 1::2, 0].flatten())
    torch.testing.assert_close(dilated_window_reverse(windows, 4, 2, (8, 8)), grid)


def test_dilated_attention_on_a_padded_grid_is_finite_and_local():
    # 7x7 grid, 4x4 windows: padded to 8x8; only regional (dilation 1) heads
    layer = DilatedLinearAttention(
        DIM, HEADS, grid_size=(7, 7), num_prefix_tokens=1, num_local_heads=HEADS, window_size=4, dilations=(1,)).eval()
    x = torch.randn(1, 50, DIM, requires_grad=True)
    out = layer(x)
    out.sum().backward()
    assert out.isfinite().all() and x.grad.isfinite().all()

    far_patch = 1 + 6 * 7 + 6  # patch (6, 6), outside the window of patch (0, 0)
    x_far = x.detach().clone()
    x_far[0, far_patch] += 10.
    out_far = layer(x_far)
    torch.testing.assert_close(out_far[0, 1], out[0, 1].detach())  # patch (0, 0) does not see it
    assert not torch.allclose(out_far[0, 0], out[0, 0].detach())  # the class token sees every token
