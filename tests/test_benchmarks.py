""" benchmarks/attention_layers.py end to end at a tiny size: every case runs in its own process and lands in the
ratio tables; a reference package that is not installed is a failed case in the report, not a crash. """
import importlib.util
import json
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / 'benchmarks' / 'attention_layers.py'


def _benchmark_module():
    spec = importlib.util.spec_from_file_location('attention_layers', BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_measures_each_case_and_writes_the_tables(tmp_path):
    benchmark = _benchmark_module()
    benchmark.main(['--tokens', '16', '--mechanisms', 'softmax', 'nystrom', '--warmup', '0', '--runs', '2',
                    '--threads', '1', '--output', str(tmp_path)])
    points = json.loads((tmp_path / 'points.json').read_text())
    measured = {(p['mechanism'], p['implementation']) for p in points if 'error' not in p}
    assert {('softmax', 'ours'), ('softmax', 'reference'), ('softmax', 'sdpa'), ('nystrom', 'ours')} <= measured
    assert all(p['time_ms'] > 0 for p in points if 'error' not in p)
    tables = (tmp_path / 'tables.md').read_text()
    assert '| softmax |' in tables and '| nystrom, ours |' in tables
    by_key = {(p['mechanism'], p['implementation']): p for p in points}
    ratio = by_key['softmax', 'ours']['time_ms'] / by_key['softmax', 'reference']['time_ms']
    assert f'{ratio:.2f}x' in tables
