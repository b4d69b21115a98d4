""" `attnzoo scaling`: the growth exponent and the crossover on curves whose answers are known, the FLOP growth of
the real layers (deterministic), and the files a sweep writes. No timed assertions. """
import csv
import json
import math

import pytest

from timm_attnzoo.cli import main
from timm_attnzoo.flops import count_flops
from timm_attnzoo.scaling import LAYER_MECHANISMS, create_scaling_layer, crossover_n, growth_exponent

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
N = [16, 64, 256, 1024, 4096]


pytestmark = pytest.mark.usefixtures('one_thread')


def test_growth_exponent_is_the_slope_over_the_upper_half_of_the_sweep():
    assert growth_exponent(N, [3e-6 * n ** 2 for n in N]) == pytest.approx(2.0, abs=1e-12)
    assert growth_exponent(N, [7. * n for n in N]) == pytest.approx(1.0, abs=1e-12)
    # fixed costs below the upper half (N = 256, 1024, 4096) do not enter the fit
    assert growth_exponent(N, [5., 5., 2 * 256 ** 1.5, 2 * 1024 ** 1.5, 2 * 4096 ** 1.5]) == pytest.approx(1.5)
    # a point without a memory reading is left out; one reading alone has no slope
    assert growth_exponent(N, [1., 1., 0., 1024 ** 2, 4096 ** 2]) == pytest.approx(2.0)
    assert math.isnan(growth_exponent(N, [1., 1., 0., math.nan, 4096 ** 2]))


def test_crossover_is_where_a_line_drops_below_the_reference_for_good():
    softmax = [n ** 2 for n in N]
    assert crossover_n(N, [100. * n for n in N], softmax) == pytest.approx(100)  # 100 N = N^2
    assert crossover_n(N, [2000. * n for n in N], softmax) == pytest.approx(2000)
    assert crossover_n(N, [1e6 * n for n in N], softmax) is None  # not in range
    assert crossover_n(N, [0.5 * n ** 2 for n in N], softmax) == N[0]  # below everywhere
    # below, above, below: the crossing that lasts, between 256 and 1024 on the log-log line
    wiggle = [0.5, 2., 2., 0.5, 0.5]
    assert crossover_n(N, [w * s for w, s in zip(wiggle, softmax)], softmax) == pytest.approx(512)
    assert crossover_n(N, [1., 1., 1., 1., 2e7], softmax) is None  # back above at the end


def test_softmax_flops_grow_quadratically_and_the_others_linearly():
    tokens = [16, 64, 256]  # fit over 64 and 256
    exponents = {
        mechanism: growth_exponent(tokens, [count_flops(*create_scaling_layer(mechanism, 32, 4, n)) for n in tokens])
        for mechanism in LAYER_MECHANISMS}
    assert exponents.pop('softmax') > 1.6  # 1.73: the projections' N d^2 still weigh at N = 64
    assert all(0 < exponent < 1.05 for exponent in exponents.values()), exponents  # 1.0; Nystrom's landmarks: 0.08


def test_a_layer_and_a_model_sweep_write_their_points_table_and_plot(tmp_path, capsys):
    main(['scaling', '--layers', 'softmax', 'linformer', '--tokens', '16', '64', '256', '--width', '32',
          '--models', 'vit_cifar', 'vit_performer_cifar', '--img-sizes', '8', '16', '--warmup', '0', '--runs', '1',
          '--output', str(tmp_path)])
    with (tmp_path / 'layers.csv').open() as f:
        rows = list(csv.DictReader(f))
    assert [(row['name'], int(row['n'])) for row in rows] == [(m, n) for m in ('softmax', 'linformer') for n in (16, 64, 256)]
    assert all(float(row['time_ms']) > 0 and float(row['memory_mib']) >= 0 for row in rows)
    assert int(rows[-1]['flops']) == count_flops(*create_scaling_layer('linformer', 32, 4, 256))
    models = json.loads((tmp_path / 'models.json').read_text())
    assert [(p['name'], p['img_size'], p['n']) for p in models] == [
        ('vit_cifar', 8, 64), ('vit_cifar', 16, 256), ('vit_performer_cifar', 8, 64), ('vit_performer_cifar', 16, 256)]
    for sweep in ('layers', 'models'):
        assert (tmp_path / f'{sweep}.png').read_bytes()[:8] == PNG_SIGNATURE
    table = (tmp_path / 'layers.txt').read_text().splitlines()
    assert table[0].split()[:4] == ['name', 'time', 'exponent', 'memory']
    assert table[2].split()[0] == 'softmax' and table[2].split()[-1] == 'reference'
    # Linformer's FLOPs are linear in N plus the k x C^2 of its key and value projections: an exponent just under 1
    assert table[3].split()[0] == 'linformer' and 0.85 < float(table[3].split()[3]) <= 1.0  # the FLOP exponent
    assert '\n'.join(table) in capsys.readouterr().out
