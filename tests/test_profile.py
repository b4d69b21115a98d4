""" `attnzoo profile` and the measurements it shares with the study and the scaling sweeps: counts that match
the FLOP counter and the parameters, timing statistics on a known clock, memory that behaves as memory does,
and the files the command writes. No timed assertions: how fast is for benchmarks. """
import csv
import json
from types import SimpleNamespace

import pytest
import timm
import torch

from timm_attnzoo import measure
from timm_attnzoo.cli import main
from timm_attnzoo.flops import count_flops
from timm_attnzoo.measure import forward, peak_forward_memory_mib, peak_training_memory_mib, time_calls
from timm_attnzoo.profile import MEASURED_FIELDS, profile_model

CPU = torch.device('cpu')
QUICK = dict(warmup=0, runs=2)


pytestmark = pytest.mark.usefixtures('one_thread')


def test_time_calls_reports_the_median_and_quartiles_of_the_timed_calls_only(monkeypatch):
    durations = iter([50., 4., 1., 3., 2., 5.])  # the first call is the warm-up
    now = [0.]
    monkeypatch.setattr(measure, 'time', SimpleNamespace(perf_counter=lambda: now[0]))
    timing = time_calls(lambda: now.__setitem__(0, now[0] + next(durations)), CPU, warmup=1, runs=5)
    assert (timing.median, timing.q1, timing.q3, timing.spread) == (3., 2., 4., 1.)


@pytest.mark.parametrize('model_name, img_size, in_chans', [('vit_cifar', None, 3), ('vit_cifar', 64, 1)])
def test_profile_row_has_the_counted_params_and_flops_and_consistent_rates(model_name, img_size, in_chans):
    row = profile_model(model_name, img_size=img_size, in_chans=in_chans, batch_size=4, **QUICK)
    size = img_size or 32
    model = timm.create_model(model_name, in_chans=in_chans, **({'img_size': img_size} if img_size else {}))
    assert row['input_size'] == f'{in_chans}x{size}x{size}' and row['error'] == ''
    assert row['params'] == sum(p.numel() for p in model.parameters())
    assert row['flops'] == count_flops(model, (in_chans, size, size))
    assert row['latency_ms'] * row['throughput'] == pytest.approx(1000)  # ms per image and images per second
    assert row['train_step_ms'] * row['train_throughput'] == pytest.approx(1000 * 4)  # a step is a batch of 4
    assert row['peak_forward_mib'] < row['peak_train_mib']


def test_a_training_step_takes_more_memory_than_a_forward_and_both_grow_with_the_batch():
    model = timm.create_model('vit_cifar')
    forward(model, torch.randn(64, 3, 32, 32))  # one-time allocations (thread pools, kernels) before measuring
    peaks = {batch: (peak_forward_memory_mib(model, (3, 32, 32), batch, CPU),
                     peak_training_memory_mib(model, (3, 32, 32), batch, CPU)) for batch in (16, 128)}
    assert peaks[128][1] > 2 * peaks[128][0] > 0
    assert peaks[128][0] > 4 * peaks[16][0] and peaks[128][1] > 4 * peaks[16][1] > 0


def test_profile_writes_csv_and_json_with_every_column(tmp_path):
    args = ['--batch-size', '2', '--warmup', '0', '--runs', '2']
    main(['profile', 'vit_cifar', *args, '--format', 'csv', '--output', str(tmp_path / 'profile.csv')])
    main(['profile', 'vit_linformer_cifar', *args, '--format', 'json', '--output', str(tmp_path / 'profile.json')])
    with (tmp_path / 'profile.csv').open() as f:
        csv_rows = list(csv.DictReader(f))
    json_rows = json.loads((tmp_path / 'profile.json').read_text())
    for rows, name in ((csv_rows, 'vit_cifar'), (json_rows, 'vit_linformer_cifar')):
        assert [row['model'] for row in rows] == [name]
        assert all(row[field] not in ('', None) and float(row[field]) > 0 for row in rows for field in MEASURED_FIELDS)
        assert set(rows[0]) == {'model', 'input_size', 'batch_size', 'device', 'warmup', 'runs', 'error', *MEASURED_FIELDS}


def test_a_model_that_cannot_run_at_the_size_is_a_line_after_the_table_not_a_traceback(capsys):
    main(['profile', 'perceiver_io_cifar', 'vit_cifar', '--img-size', '30', '--batch-size', '2', '--warmup', '0',
          '--runs', '2'])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ['model', 'input', 'batch', 'params', 'MFLOPs/img']
    assert lines[2].split()[:3] == ['perceiver_io_cifar', '3x30x30', '2'] and len(lines) == 5
    assert lines[4].startswith('vit_cifar at 3x30x30: ValueError: img_size=30 is not divisible by patch_size=4')
