""" `attnzoo models`, `attnzoo prepare-data` and `attnzoo write-configs`, as a user runs them. """
import json
import subprocess
import sys

import pytest
import timm

from timm_attnzoo.cli import main
from timm_attnzoo.data import FASHION_MNIST_FILES, prepare_fashion_mnist
from timm_attnzoo.flops import count_flops

from .conftest import ZOO_MODELS


def test_models_lists_the_named_models_with_their_measured_params_and_flops(tmp_path, capsys):
    # the whole registry's listing is checked against docs/models.md by tests/test_docs.py
    output = tmp_path / 'models.json'
    names = ['vit_nystrom_cifar', 'vit_performer_reg_cifar', 'swin_cifar', 'mixer_cifar']
    main(['models', *names, '--format', 'json', '--output', str(output)])
    rows = {row['model']: row for row in json.loads(output.read_text())}
    assert sorted(rows) == sorted(names) and set(names) <= set(ZOO_MODELS)
    model = timm.create_model('vit_nystrom_cifar')
    assert rows['vit_nystrom_cifar']['params'] == sum(p.numel() for p in model.parameters())
    assert rows['vit_nystrom_cifar']['flops'] == count_flops(model, input_size=(3, 32, 32))
    assert rows['vit_performer_reg_cifar']['attention'] == 'PerformerAttention+SoftmaxAttention'
    assert rows['swin_cifar']['attention'] == 'timm.WindowAttention'  # timm's own, told apart from the zoo's
    assert rows['mixer_cifar']['attention'] == 'none'


def test_models_table_from_the_installed_command():
    result = subprocess.run(
        [sys.executable, '-m', 'timm_attnzoo.cli', 'models', 'vit_cifar', 'vit_linformer_cifar'],
        capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ['model', 'attention', 'params', 'MFLOPs', 'input']
    assert [line.split()[0] for line in lines[2:]] == ['vit_cifar', 'vit_linformer_cifar']


def test_prepare_data_lays_out_what_torchvision_reads(tmp_path, fashion_mnist_root):
    assert all((fashion_mnist_root / 'FashionMNIST' / 'raw' / name).stat().st_size > 0 for name in FASHION_MNIST_FILES)
    with pytest.raises(FileNotFoundError, match='dataset-fashion-mnist'):
        prepare_fashion_mnist(tmp_path / 'out', source=tmp_path / 'nowhere')


def test_write_configs_writes_every_configuration_and_removes_stale_ones(tmp_path, capsys):
    stale = tmp_path / 'fashion_mnist' / 'renamed_model.yaml'
    stale.parent.mkdir()
    stale.write_text('model: renamed_model\n')
    main(['write-configs', '--output', str(tmp_path)])
    assert sorted(p.stem for p in (tmp_path / 'fashion_mnist').glob('*.yaml')) == ZOO_MODELS
    written = sorted(tmp_path.rglob('*.yaml'))
    assert f'{len(written)} configurations for train.py' in capsys.readouterr().out
    assert (tmp_path / 'mixformer_lambda' / 'ablation5_mixformer_norpb_cifar.yaml').exists()
