""" The benchmarks end to end at a tiny size: every case runs in its own process and lands in the tables; a
reference package that is not installed is a failed case in the report, not a crash. """
import importlib.util
import json
from pathlib import Path

import pytest

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
