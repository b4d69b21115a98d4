""" Every committed train.py configuration: its keys are train.py's arguments with values of their types (read from
train.py's parser into timm_attnzoo/train_py_arguments.json; `attnzoo check-config`), its model is registered, and
it builds that model as train.py does and runs one training step on a batch of its data set's shape (once per
distinct build: the sweeps share models). The files are what `attnzoo write-configs` writes. A key train.py does
not know is an error naming it. """
import json
import re
from types import SimpleNamespace
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
import yaml
from timm.data import resolve_data_config
from timm.optim import create_optimizer_v2, optimizer_kwargs
from timm.scheduler import create_scheduler_v2, scheduler_kwargs

from timm_attnzoo.cli import main
from timm_attnzoo.config_check import TRAIN_PY_ARGUMENTS, check_train_config, train_config_problems
from timm_attnzoo.layers import PerformerAttention
from timm_attnzoo.registry import list_models
from timm_attnzoo.train_configs import FASHION_MNIST_MODEL_KWARGS, all_train_configs, written_folders

from .conftest import ZOO_MODELS

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / 'train_configs').rglob('*.yaml'))


def _config(path):
    return yaml.safe_load(path.read_text())


def _distinct_builds():
    """ One configuration per distinct (model, kwargs, input, classes, dropout, optimizer). """
    builds = {}
    for path in CONFIGS:
        c = _config(path)
        key = json.dumps([c['model'], c.get('model_kwargs'), c.get('input_size'), c['num_classes'], c.get('drop'),
                          c.get('drop_path'), c['opt'], c.get('opt_betas')], sort_keys=True)
        builds.setdefault(key, path)
    return sorted(builds.values())


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: str(p.relative_to(ROOT / 'train_configs')))
def test_keys_are_train_py_arguments_with_values_of_their_type(path):
    assert train_config_problems(_config(path)) == []


@pytest.mark.parametrize('change, problem', [
    (dict(learning_rate=1e-3), 'learning_rate: not an argument of train.py'),
    (dict(wieght_decay=0.05), "wieght_decay: not an argument of train.py; did you mean 'weight_decay'?"),
    (dict(epochs='30'), "epochs: '30' is not a int"),
    (dict(input_size=[1, 28]), 'input_size: [1, 28] has 2 values, train.py takes 3'),
    (dict(amp_dtype=3), 'amp_dtype: 3 is not a str'),
    (dict(model='vit_cifr'), "model: 'vit_cifr' is not a registered model; did you mean 'vit_cifar'?"),
])
def test_a_config_key_train_py_does_not_know_is_an_error_naming_it(tmp_path, change, problem):
    # train.py itself sets unknown keys as defaults of nothing, so a misspelt key would train with the default
    path = tmp_path / 'config.yaml'
    path.write_text(yaml.safe_dump(dict(_config(CONFIGS[0]), **change)))
    with pytest.raises(ValueError, match=re.escape(problem)):
        check_train_config(path)
    with pytest.raises(SystemExit, match=re.escape(problem)):
        main(['check-config', str(CONFIGS[0]), str(path)])


@pytest.mark.parametrize('path', _distinct_builds(), ids=lambda p: str(p.relative_to(ROOT / 'train_configs')))
def test_config_builds_its_model_as_train_py_does_and_takes_a_training_step(path):
    config = _config(path)
    assert timm.is_model(config['model']), config['model']
    assert 'timm_attnzoo' in config.get('device_modules', []), 'train.py must load the plugin itself'
    input_size = config.get('input_size')
    model = timm.create_model(  # train.py's create_model call; weights play no part in shapes (see test_finetune.py)
        config['model'], pretrained=False, in_chans=input_size[0] if input_size else 3,
        num_classes=config['num_classes'], drop_rate=config.get('drop', 0.), drop_path_rate=config.get('drop_path'),
        **config.get('model_kwargs', {}))
    data_config = resolve_data_config(config, model=model)
    x = torch.randn(2, *data_config['input_size'])
    cfg = SimpleNamespace(momentum=0.9, **config)
    optimizer = create_optimizer_v2(model, **optimizer_kwargs(cfg))  # as train.py
    scheduler, _ = create_scheduler_v2(optimizer, **scheduler_kwargs(cfg), updates_per_epoch=100)
    assert scheduler is not None, 'train.py reads the scheduler (t_in_epochs) even for a constant lr'

    loss = F.cross_entropy(model.train()(x), torch.tensor([0, 1]))
    loss.backward()
    optimizer.step()
    assert loss.isfinite()


@pytest.mark.parametrize('config', all_train_configs(), ids=lambda c: c.path)
def test_committed_config_is_what_the_command_writes(config):
    path = ROOT / 'train_configs' / config.path
    assert path.exists() and path.read_text() == config.render(), 'run `attnzoo write-configs` and commit'


def test_the_fashion_mnist_performers_keep_their_first_features_and_are_otherwise_the_registered_model():
    vits = [name for name in list_models() if timm.models.model_entrypoint(name).__module__.endswith('efficient_attention_vit')]
    performers = {}
    for name in vits:
        registered = [m for m in timm.create_model(name).modules() if isinstance(m, PerformerAttention)]
        if registered:
            performers[name] = registered
    assert sorted(performers) == sorted(FASHION_MNIST_MODEL_KWARGS)
    for name, registered in performers.items():
        config = _config(ROOT / 'train_configs' / 'fashion_mnist' / f'{name}.yaml')
        configured = [m for m in timm.create_model(name, **config['model_kwargs']).modules()
                      if isinstance(m, PerformerAttention)]
        assert [(m.num_features, m.kernel, m.head_dim) for m in configured] == [
            (m.num_features, m.kernel, m.head_dim) for m in registered], name
        assert all(m.feature_redraw_interval == 0 for m in configured) and registered[0].feature_redraw_interval > 0


def test_the_command_owns_every_yaml_in_its_folders_and_covers_every_model():
    configs = all_train_configs()
    written = {c.path for c in configs}
    for folder in written_folders(configs):
        committed = {str(p.relative_to(ROOT / 'train_configs')) for p in (ROOT / 'train_configs' / folder).rglob('*.yaml')}
        assert committed == {p for p in written if p.startswith(folder + '/')}, folder
    assert {c.args['model'] for c in configs if c.data_set == 'fashion_mnist'} == set(ZOO_MODELS)


def test_arguments_were_read_from_a_named_train_py():
    assert TRAIN_PY_ARGUMENTS['source'].startswith('huggingface/pytorch-image-models train.py at ')
    assert TRAIN_PY_ARGUMENTS['arguments']['device_modules'] == dict(type='str', nargs='+', choices=None)
    assert TRAIN_PY_ARGUMENTS['arguments']['model_kwargs']['type'] == 'dict'
