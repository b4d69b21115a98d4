""" FAVOR+ in chunks with the features recomputed in the backward (`timm_attnzoo.layers.favor`) against autograd
through the plain formula, and the memory bound the chunks are for. """
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from timm_attnzoo.layers import PerformerAttention
from timm_attnzoo.layers.favor import RELU_KERNEL_EPSILON, FavorAttention, favor_attention, key_projection
from timm_attnzoo.layers.linear_attention import linear_attention


def _projections(num_features, head_dim, kernel):
    q_projection = torch.randn(num_features, head_dim, dtype=torch.float64) * head_dim ** -0.25
    return q_projection, q_projection if kernel == 'relu' else key_projection(q_projection, head_dim)


def _plain_favor(q, k, v, q_projection, kernel):
    """ The formula under autograd: whole (B, h, N, m) feature maps, the keys shifted by their detached maximum. """
    if kernel == 'relu':
        return linear_attention(torch.relu(q @ q_projection.T) + RELU_KERNEL_EPSILON,
                                torch.relu(k @ q_projection.T) + RELU_KERNEL_EPSILON, v)
    exponents = k @ q_projection.T - (k * k).sum(-1, keepdim=True) * k.shape[-1] ** -0.5 / 2
    return linear_attention(torch.exp(q @ q_projection.T),
                            torch.exp(exponents - exponents.detach().amax(dim=(-2, -1), keepdim=True)), v)


@pytest.mark.parametrize('kernel', ['softmax', 'relu'])
@pytest.mark.parametrize('num_tokens, chunk', [(37, 8), (37, 37), (40, 64)])
def test_chunked_favor_and_its_backward_equal_autograd_through_the_formula(kernel, num_tokens, chunk):
    # several chunks (the features recomputed in the backward), and one (the features kept)
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, num_tokens, 8, dtype=torch.float64, requires_grad=True) for _ in range(3))
    q_projection, k_projection = _projections(16, 8, kernel)
    ours = FavorAttention.apply(q, k, v, q_projection, k_projection, kernel, chunk)
    expected = _plain_favor(q, k, v, q_projection, kernel)
    torch.testing.assert_close(ours, expected)
    grad = torch.randn_like(ours)
    for a, b in zip(torch.autograd.grad(ours, (q, k, v), grad), torch.autograd.grad(expected, (q, k, v), grad)):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(
        lambda q, k, v: FavorAttention.apply(q, k, v, q_projection, k_projection, kernel, chunk),
        (q[:1, :1], k[:1, :1], v[:1, :1]))


def test_a_later_chunk_raising_the_key_shift_rescales_what_was_summed():
    # keys in increasing norm: every chunk's maximum exponent exceeds the last, so each one rescales S and z
    torch.manual_seed(0)
    q, v = torch.randn(1, 1, 24, 4, dtype=torch.float64), torch.randn(1, 1, 24, 4, dtype=torch.float64)
    k = torch.randn(1, 1, 24, 4, dtype=torch.float64) * torch.linspace(0.1, 3., 24, dtype=torch.float64)[:, None]
    q_projection, k_projection = _projections(8, 4, 'softmax')
    chunk_maxima = [(k[..., i:i + 8, :] @ q_projection.T).amax() for i in range(0, 24, 8)]
    assert chunk_maxima[0] < chunk_maxima[1] < chunk_maxima[2]
    torch.testing.assert_close(
        FavorAttention.apply(q, k, v, q_projection, k_projection, 'softmax', 8),
        _plain_favor(q, k, v, q_projection, 'softmax'))


@pytest.mark.parametrize('kernel', ['softmax', 'relu'])
def test_short_sequences_take_the_n_by_n_association_under_autograd(kernel):
    # N M (m + d + 1) < (N + M) m (d + 1): the features are small and linear_attention contracts them
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 10, 8, dtype=torch.float64, requires_grad=True) for _ in range(3))
    q_projection, k_projection = _projections(64, 8, kernel)
    ours = favor_attention(q, k, v, q_projection, k_projection, kernel)
    assert ours.grad_fn.name() != 'FavorAttentionBackward'
    torch.testing.assert_close(ours, _plain_favor(q, k, v, q_projection, kernel))


class LargestTensor(TorchDispatchMode):
    """ The largest floating-point tensor any op creates while active. """

    def __init__(self):
        super().__init__()
        self.numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
                self.numel = max(self.numel, tensor.numel())
        return out


@pytest.mark.parametrize('kernel', ['softmax', 'relu'])
def test_a_training_step_never_holds_a_whole_feature_map(kernel):
    # N = 1024 tokens, m = 64 features per 16-wide head: the (B, h, N, m) maps would be 4x q, k or v; in 16 chunks
    # nothing is larger than the qkv projection's output
    layer = PerformerAttention(64, 4, num_features=64, kernel=kernel)
    x = torch.randn(2, 1024, 64)
    with LargestTensor() as largest:
        layer(x).sum().backward()
    assert largest.numel == 2 * 1024 * 3 * 64  # the qkv projection (and its gradient)
    assert largest.numel < 2 * 4 * 1024 * 64  # one whole phi(Q)


@pytest.mark.parametrize('kernel', ['softmax', 'relu'])
def test_off_the_cpu_the_feature_maps_exist_whole(kernel):
    # on a GPU a chunk costs its kernel launches, not its bytes, so the sequence is one chunk; the meta device stands
    # in for the GPU (the same dispatch, without data)
    q, k, v = (torch.randn(2, 4, 1024, 16, device='meta', requires_grad=True) for _ in range(3))
    q_projection, k_projection = (projection.float().to('meta') for projection in _projections(64, 16, kernel))
    with LargestTensor() as largest:
        favor_attention(q, k, v, q_projection, k_projection, kernel).sum().backward()
    assert largest.numel == 2 * 4 * 1024 * 64  # one whole phi(Q)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='a GPU test')
@pytest.mark.parametrize('kernel', ['softmax', 'relu'])
def test_a_gpus_one_chunk_equals_a_cpus_many(kernel):
    torch.manual_seed(0)
    q, k, v, grad = (torch.randn(2, 3, 1024, 8, dtype=torch.float64) for _ in range(4))
    q_projection, k_projection = _projections(16, 8, kernel)
    results = []
    for device in ('cpu', 'cuda'):
        inputs = [t.to(device).requires_grad_() for t in (q, k, v)]
        out = favor_attention(*inputs, q_projection.to(device), k_projection.to(device), kernel)
        results.append([out.cpu(), *(g.cpu() for g in torch.autograd.grad(out, inputs, grad.to(device)))])
    for on_cpu, on_gpu in zip(*results):
        torch.testing.assert_close(on_gpu, on_cpu)
