""" The seed's fine-tuning of a pretrained timm model: the train config's model loads a local checkpoint with
pretrained=True, as train.py's --pretrained-path does (a file overlay) and as a Hub-style folder does
(local-dir:), gets a new 10-class head, and trains with the config's optimizer. """
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import load_file
from timm.data import create_dataset, create_loader, resolve_data_config
from timm.optim import create_optimizer_v2

CONFIG = Path(__file__).resolve().parents[1] / 'train_configs' / 'mixer_b16_224_finetune_cifar10.yaml'


@pytest.fixture(scope='module')
def config():
    return yaml.safe_load(CONFIG.read_text())


@pytest.fixture(scope='module')
def pretrained_dir(config, tmp_path_factory):
    """ The config's model as the Hub holds it (config.json, model.safetensors), ImageNet's 1000 classes; random
    weights stand in for the real ones, which this machine cannot download. """
    path = tmp_path_factory.mktemp('mixer_b16_224')
    timm.models.save_for_hf(timm.create_model(config['model']), path, safe_serialization=True)
    return path


def _assert_pretrained_body_and_new_head(model, pretrained_dir, num_classes):
    checkpoint = load_file(pretrained_dir / 'model.safetensors')
    state_dict = model.state_dict()
    assert checkpoint['head.weight'].shape[0] == 1000 and state_dict['head.weight'].shape[0] == num_classes
    for name, value in state_dict.items():
        if not name.startswith('head.'):
            torch.testing.assert_close(value, checkpoint[name], rtol=0, atol=0, msg=name)


def test_pretrained_path_loads_the_checkpoint_under_a_new_head(config, pretrained_dir):
    # what train.py builds for `-c <config> --pretrained-path FILE`
    model = timm.create_model(
        config['model'], pretrained=config['pretrained'], num_classes=config['num_classes'],
        pretrained_cfg_overlay=dict(file=str(pretrained_dir / 'model.safetensors'), num_classes=-1))
    _assert_pretrained_body_and_new_head(model, pretrained_dir, config['num_classes'])


def test_local_dir_loads_the_checkpoint_under_a_new_head_and_trains(config, pretrained_dir, fashion_mnist_root):
    model = timm.create_model(f'local-dir:{pretrained_dir}', pretrained=True, num_classes=config['num_classes'])
    _assert_pretrained_body_and_new_head(model, pretrained_dir, config['num_classes'])

    # small images upsampled to the 224x224 the weights were trained at, with the config's interpolation and
    # crop and the checkpoint's normalization; Fashion-MNIST's grey repeated over RGB stands in for CIFAR-10
    data_config = resolve_data_config(dict(config, input_size=(1, config['img_size'], config['img_size'])), model=model)
    dataset = create_dataset('torch/fashion_mnist', root=str(fashion_mnist_root), split='train')
    loader = create_loader(
        dataset, input_size=data_config['input_size'], batch_size=4, is_training=False, use_prefetcher=False,
        interpolation=data_config['interpolation'], crop_pct=data_config['crop_pct'],
        mean=data_config['mean'][:1], std=data_config['std'][:1], num_workers=0)
    x, y = next(iter(loader))
    x = x.expand(-1, 3, -1, -1)
    assert x.shape == (4, 3, 224, 224)

    optimizer = create_optimizer_v2(model, config['opt'], lr=config['lr'], weight_decay=config['weight_decay'])
    model.train()
    losses = []
    for _ in range(3):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses
