""" `attnzoo approx`: q, k, v read from softmax layers, each mechanism's error against exact attention, the files. """
import json
import math
from pathlib import Path

import pytest
import timm
import torch
from timm.models import save_for_hf

from timm_attnzoo.approximation import (
    BEST_RANK, LayerHeads, build_mechanism, capture_heads, exact_attention, format_table, load_images, load_model,
    measure, relative_error, summarize,
)
from timm_attnzoo.cli import main
from timm_attnzoo.layers import SoftmaxAttention

FASHION_MNIST_VIT = dict(img_size=28, in_chans=1, num_classes=10)


pytestmark = pytest.mark.usefixtures('one_thread')


def smooth_heads(batch, heads, tokens, head_dim, generator, frequencies=3):
    """ (B, h, N, d) varying smoothly along the sequence: a few sines and cosines per channel. """
    t = torch.linspace(0, 1, tokens)
    basis = torch.stack([f(2 * math.pi * (i + 1) * t) for i in range(frequencies) for f in (torch.sin, torch.cos)], -1)
    return basis @ torch.randn(batch, heads, 2 * frequencies, head_dim, generator=generator)  # B, h, N, d


def test_captured_heads_give_each_softmax_layer_its_output():
    model = timm.create_model('vit_cifar', **FASHION_MNIST_VIT).eval()
    outputs = {}
    for name, module in model.named_modules():
        if isinstance(module, SoftmaxAttention):
            module.register_forward_hook(lambda m, args, out, name=name: outputs.setdefault(name, out))
    layers = capture_heads(model, torch.randn(3, 1, 28, 28))
    assert [layer.name for layer in layers] == [f'blocks.{i}.attn' for i in range(4)] == list(outputs)
    for layer in layers:
        assert layer.q.shape == (3, 4, 50, 12)
        exact_output, exact_matrix = exact_attention(layer.q, layer.k, layer.v)
        torch.testing.assert_close(exact_matrix.sum(-1), torch.ones(3, 4, 50, dtype=torch.float64))
        attention = model.get_submodule(layer.name)
        torch.testing.assert_close(
            attention.merge_heads(exact_output.float()), outputs[layer.name], rtol=1e-4, atol=1e-5)
    assert all(len(model.get_submodule(layer.name)._forward_hooks) == 1 for layer in layers)  # ours are gone


def test_capture_needs_a_softmax_layer():
    with pytest.raises(ValueError, match='no SoftmaxAttention'):
        capture_heads(timm.create_model('vit_performer_cifar'), torch.randn(1, 3, 32, 32))


def test_nystrom_with_a_landmark_per_token_is_exact_up_to_the_pseudo_inverse_iteration():
    generator = torch.Generator().manual_seed(0)
    q, k = smooth_heads(2, 4, 50, 16, generator), smooth_heads(2, 4, 50, 16, generator)
    v = torch.randn(2, 4, 50, 16, generator=generator)
    exact_output, exact_matrix = exact_attention(q, k, v)

    def error(landmarks, iterations):
        nystrom = build_mechanism('nystrom', 4, 16, 50, landmarks, pinv_iterations=iterations)
        return relative_error(nystrom.attend(q, k, v), exact_output)

    # with m = N the formula is exact; the paper's 6 iterations leave ~2e-2 here, 12 iterations ~5e-4
    assert error(50, 12) < 2e-3 < error(50, 6) < 5e-2
    nystrom = build_mechanism('nystrom', 4, 16, 50, 50, pinv_iterations=12)
    assert relative_error(nystrom.attention_matrix(q, k), exact_matrix) < 2e-3
    # on a sequence that varies smoothly, segment-mean landmarks get better as they get more
    errors = [error(m, 12) for m in (8, 16, 25, 50)]
    assert errors == sorted(errors, reverse=True) and errors[0] > 10 * errors[-1]


def test_performer_softmax_kernel_error_falls_with_features_and_relu_kernel_does_not_reach_softmax():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(4, 2, 32, 8, generator=generator) for _ in range(3))
    layer = LayerHeads('random', q / 2, k / 2, v)  # sharper attention needs more features for the same error
    budgets = dict(performer=(8, 32, 128, 512), performer_relu=(512,))
    summary = {(e['mechanism'], e['budget']): e for e in summarize(measure([layer], budgets, draws=8))}
    softmax = [summary['performer', m]['output_error'] for m in (8, 32, 128, 512)]
    assert softmax == sorted(softmax, reverse=True) and softmax[0] > 4 * softmax[-1]
    assert all(summary['performer', m]['output_spread'] > 0 for m in (8, 32, 128, 512))
    # the ReLU kernel estimates another kernel: with 512 features it is still far from softmax
    assert summary['performer_relu', 512]['output_error'] > 3 * summary['performer', 512]['output_error']
    # every mechanism's matrix has rank <= its budget: none beats the best rank-k approximation
    for (mechanism, budget), entry in summary.items():
        if (BEST_RANK, budget) in summary:
            assert entry['matrix_error'] >= summary[BEST_RANK, budget]['matrix_error']


def test_linformer_with_identity_projection_is_exact_and_random_projection_is_seeded():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 17, 8, generator=generator) for _ in range(3))
    exact_output, _ = exact_attention(q, k, v)
    linformer = build_mechanism('linformer', 4, 8, 17, 17, seed=3)
    torch.testing.assert_close(linformer.proj_k, build_mechanism('linformer', 4, 8, 17, 17, seed=3).proj_k)
    assert float(linformer.proj_k.detach().std()) == pytest.approx(17 ** -0.5, rel=0.2)  # R: N(0, 1/k)
    assert relative_error(linformer.attend(q, k, v), exact_output) > 0.1
    with torch.no_grad():
        linformer.proj_k.copy_(torch.eye(17))
    assert relative_error(linformer.attend(q, k, v), exact_output) < 1e-6


def test_cli_on_a_random_model_writes_table_points_and_plot(tmp_path, capsys):
    main(['approx', '--output', str(tmp_path), '--num-images', '4', '--draws', '2', '--linformer-dims', '16',
          '--performer-features', '16', '64', '--nystrom-landmarks', '8', '100'])
    out = capsys.readouterr().out
    assert 'random N(0, 1) images through the randomly initialised model (no checkpoint)' in out
    assert '| performer_relu | 64 | 2 |' in out
    result = json.loads((tmp_path / 'approximation.json').read_text())
    assert result['checkpoint'] is None and result['tokens'] == 50 and len(result['layers']) == 4
    budgets = {(e['mechanism'], e['budget']) for e in result['summary']}
    assert budgets == {('linformer', 16), ('linformer', 50), ('performer', 16), ('performer', 64),
                       ('performer_relu', 16), ('performer_relu', 64), ('nystrom', 8), ('nystrom', 50),
                       (BEST_RANK, 8), (BEST_RANK, 16)}
    # 4 layers x (2 Linformer x 2 draws + 4 Performer x 2 draws + 2 Nystrom + 2 ranks)
    assert len(result['points']) == 4 * (4 + 8 + 2 + 2)
    assert (tmp_path / 'approximation_points.csv').read_text().count('\n') == 1 + len(result['points'])
    assert (tmp_path / 'approximation.csv').read_text().count('\n') == 1 + len(result['summary'])
    assert (tmp_path / 'approximation.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_checkpoint_round_trip_gives_the_in_memory_models_heads(tmp_path, fashion_mnist_root, capsys):
    model = timm.create_model('vit_cifar', **FASHION_MNIST_VIT).eval()
    weights = tmp_path / 'weights'
    save_for_hf(model, str(weights), safe_serialization=True, model_args=FASHION_MNIST_VIT)
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'last.pth.tar')
    images = load_images(fashion_mnist_root, num_images=8)
    assert images.shape == (8, 1, 28, 28)
    expected = capture_heads(model, images)
    for loaded in (load_model(checkpoint=weights), load_model('vit_cifar', tmp_path / 'last.pth.tar')):
        for got, want in zip(capture_heads(loaded, images), expected, strict=True):
            for a, b in zip((got.q, got.k, got.v), (want.q, want.k, want.v)):
                torch.testing.assert_close(a, b)

    budgets = dict(nystrom=(8,), performer=(16,))
    main(['approx', '--checkpoint', str(weights), '--data-dir', str(fashion_mnist_root), '--num-images', '8',
          '--draws', '2', '--mechanisms', 'nystrom', 'performer', '--nystrom-landmarks', '8', '--performer-features',
          '16', '--output', str(tmp_path / 'out')])
    assert f'8 fashion_mnist validation images through the checkpoint {weights}' in capsys.readouterr().out
    points = json.loads((tmp_path / 'out' / 'approximation.json').read_text())['points']
    assert points == measure(expected, budgets, draws=2)


@pytest.mark.parametrize('run', ['trained', 'trained_nystrom_pinv12', 'random'])
def test_docs_hold_the_tables_the_runs_wrote(run):
    docs = Path(__file__).resolve().parents[1] / 'docs'
    result = json.loads((docs / 'figures' / 'approximation' / run / 'approximation.json').read_text())
    assert format_table(result['summary']) in (docs / 'approximation.md').read_text()
    assert (docs / 'figures' / 'approximation' / run / 'approximation.png').exists()
