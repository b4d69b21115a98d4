""" The benchmarks end to end at a tiny size: every case runs in its own process and lands in the tables; a
reference package that is not installed is a failed case in the report, not a crash. """
import importlib.util
import json
from pathlib import Path

import pytest
import timm
import torch
from timm.models import save_for_hf

from timm_attnzoo.dataset_specs import DATA_SETS
from timm_attnzoo.layers.performer import PerformerAttention

BENCHMARKS = Path(__file__).resolve().parents[1] / 'benchmarks'


@pytest.fixture
def benchmark_module(monkeypatch):
    """ A benchmark script loaded as `python benchmarks/NAME.py` runs it: its folder first on the path. """
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def load(name):
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f'{name}.py')
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


def test_attention_layers_measures_each_case_and_writes_the_ratio_tables(tmp_path, benchmark_module):
    benchmark = benchmark_module('attention_layers')
    benchmark.main(['--tokens', '16', '--mechanisms', 'softmax', 'nystrom', '--warmup', '0', '--runs', '2',
                    '--threads', '1', '--output', str(tmp_path)])
    points = json.loads((tmp_path / 'points.json').read_text())
    measured = {(p['mechanism'], p['implementation']) for p in points if 'error' not in p}
    assert {('softmax', 'ours'), ('softmax', 'reference'), ('softmax', 'sdpa'), ('nystrom', 'ours')} <= measured
    assert all(p['time_ms'] > 0 for p in points if 'error' not in p)
    tables = (tmp_path / 'table.md').read_text()
    assert '| softmax |' in tables and '| nystrom, ours |' in tables
    by_key = {(p['mechanism'], p['implementation']): p for p in points}
    ratio = by_key['softmax', 'ours']['time_ms'] / by_key['softmax', 'reference']['time_ms']
    assert f'{ratio:.2f}x' in tables


def test_models_compares_vit_cifar_with_timms_vision_transformer(tmp_path, benchmark_module):
    benchmark = benchmark_module('models')
    benchmark.main(['--models', benchmark.TIMM_VIT, 'vit_cifar', '--batch-size', '4', '--warmup', '0', '--runs', '2',
                    '--rounds', '2', '--threads', '1', '--output', str(tmp_path)])
    points = {p['model']: p for p in json.loads((tmp_path / 'points.json').read_text())}
    pair = points.pop(f'vit_cifar / {benchmark.TIMM_VIT}')
    assert points['vit_cifar']['params'] == points[benchmark.TIMM_VIT]['params']  # the same dimensions
    assert all(p['forward_images_per_s'] > 0 and p['train_images_per_s'] > 0 for p in points.values())
    assert pair['rounds'] == 2 and pair['forward_ratio'] > 0 and pair['train_ratio'] > 0
    assert f"forward {pair['forward_ratio']:.3f}" in (tmp_path / 'table.md').read_text()


def test_a_case_failing_in_this_process_is_a_failed_row(benchmark_module):
    # on CUDA the cases run in the benchmark's process: a case that raises is reported, as a fresh process's would be
    fresh_process = benchmark_module('fresh_process')
    point = fresh_process.run_in_this_process(lambda: {}['missing'], dict(model='m'))
    assert point == dict(model='m', error="KeyError: 'missing'")


def test_performer_feature_draws_scores_the_draws_around_the_saved_one_and_keeps_it(
        tmp_path, benchmark_module, fashion_mnist_root):
    benchmark = benchmark_module('performer_feature_draws')
    model_args = dict(img_size=28, in_chans=1, num_classes=10, depth=2)
    torch.manual_seed(0)
    trained = timm.create_model('vit_performer_cifar', **model_args).eval()
    for layer in _performer_layers(trained):
        layer.use_draw(3)  # as saved after three redraws
    weights = tmp_path / 'weights'
    save_for_hf(trained, str(weights), safe_serialization=True, model_args=model_args,
                data_config=DATA_SETS['fashion_mnist'].data_config())

    rows = benchmark.main(['--weights', str(weights), '--data-dir', str(fashion_mnist_root), '--offsets', '-4', '-1',
                           '0', '2', '--images', '100', '--output', str(tmp_path / 'out')])
    assert [(row['offset'], row['draw']) for row in rows] == [(-1, 2), (0, 3), (2, 5)]  # no draw before the first

    loaded = timm.create_model(f'local-dir:{weights}', pretrained=True).eval()
    batches = benchmark.validation_batches(loaded, 'torch/fashion_mnist', str(fashion_mnist_root), 100)
    assert sum(len(y) for _, y in batches) == 100
    assert rows[1]['top1'] == benchmark.top1(loaded, batches)
    before = loaded(batches[0][0])
    for layer in _performer_layers(loaded):
        layer.use_draw(2)
    assert not torch.allclose(loaded(batches[0][0]), before)
    assert rows[0]['top1'] == benchmark.top1(loaded, batches)

    benchmark.feature_draw_top1(trained, batches, [1, -2])
    assert [int(layer.num_redraws) for layer in _performer_layers(trained)] == [3, 3]
    written = (tmp_path / 'out' / 'feature_draws.csv').read_text().splitlines()
    assert written == ['offset,draw,top1'] + [f"{r['offset']},{r['draw']},{r['top1']:.2f}" for r in rows]
    assert '| +0 (saved) | 3 |' in (tmp_path / 'out' / 'feature_draws.md').read_text()


def _performer_layers(model):
    return [m for m in model.modules() if isinstance(m, PerformerAttention)]
