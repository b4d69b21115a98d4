""" `attnzoo push` and loading back: a model trained for a few steps (its checkpoint, args.yaml and summary.csv
written as timm's train.py writes them) is pushed with --local-dir and loaded three ways with bit-identical
outputs; in_chans and num_classes adapt; damaged weights and every push error say what is wrong, leaving
nothing behind. The upload errors run the real client against an unreachable endpoint, offline mode, and a
local server answering as the Hub does. """
import json
import os
import subprocess
import sys
import threading
from argparse import Namespace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
import yaml
from huggingface_hub import constants as hf_constants
from timm.data import create_dataset, create_loader
from timm.utils import CheckpointSaver, ModelEmaV3, update_summary

from timm_attnzoo.cli import main
from timm_attnzoo.config_check import TRAIN_PY_ARGUMENTS
from timm_attnzoo.constants import FASHION_MNIST_LABELS, FASHION_MNIST_MEAN, FASHION_MNIST_STD, HF_HUB_ORGANIZATION
from timm_attnzoo.flops import count_flops
from timm_attnzoo.hub import PushError, load_trained_model, push
from timm_attnzoo.models.pretrained_cfg import FASHION_MNIST_TAG

from .hf_cache import lay_out_hf_cache

pytestmark = pytest.mark.usefixtures('one_thread')

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PY = TRAIN_PY_ARGUMENTS['arguments']
MODEL = 'vit_cifar'
REPO_ID = f'{HF_HUB_ORGANIZATION}/{MODEL}.{FASHION_MNIST_TAG}'


def _train_py_args(data_dir: Path) -> Namespace:
    """ train.py's parsed arguments for the committed Fashion-MNIST configuration: every argument of its parser,
    the file's values over them, as `train.py -c train_configs/fashion_mnist/vit_cifar.yaml` sets them. """
    config = yaml.safe_load((ROOT / 'train_configs' / 'fashion_mnist' / f'{MODEL}.yaml').read_text())
    args = dict.fromkeys(TRAIN_PY)
    args.update(config, data_dir=str(data_dir), model_ema=True, output=str(data_dir.parent))
    return Namespace(**args)


@pytest.fixture(scope='module')
def train_py_run(tmp_path_factory, fashion_mnist_root):
    """ A train.py output folder: 4 steps of AdamW with an EMA, one evaluation, then timm's CheckpointSaver (with
    the args and the EMA, as train.py calls it), args.yaml and summary.csv. """
    out = tmp_path_factory.mktemp('train_py') / 'run'
    out.mkdir()
    args = _train_py_args(fashion_mnist_root)
    torch.manual_seed(0)
    model = timm.create_model(args.model, in_chans=args.input_size[0], num_classes=args.num_classes, **args.model_kwargs)
    ema = ModelEmaV3(model, decay=0.5)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    common = dict(input_size=tuple(args.input_size), batch_size=32, mean=tuple(args.mean), std=tuple(args.std),
                  crop_pct=args.crop_pct, num_workers=0, use_prefetcher=False)
    train = create_loader(create_dataset(args.dataset, root=args.data_dir, split='train'), is_training=True, **common)
    for step, (x, y) in enumerate(train):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ema.update(model, step=step)
        if step == 3:
            break
    val = create_loader(create_dataset(args.dataset, root=args.data_dir, split='validation'), **common)
    x, y = next(iter(val))
    with torch.no_grad():
        logits = ema.module.eval()(x)
    top1 = 100 * (logits.argmax(-1) == y).float().mean().item()
    top5 = 100 * (logits.topk(5).indices == y[:, None]).any(-1).float().mean().item()
    (out / 'args.yaml').write_text(yaml.safe_dump(vars(args), default_flow_style=False))
    update_summary(0, dict(loss=loss.item()), dict(loss=F.cross_entropy(logits, y).item(), top1=top1, top5=top5),
                   str(out / 'summary.csv'), lr=args.lr, write_header=True)
    saver = CheckpointSaver(model, optimizer, args=args, model_ema=ema, checkpoint_dir=str(out), recovery_dir=str(out))
    saver.save_checkpoint(0, metric=top1)
    return Namespace(folder=out, checkpoint=out / 'last.pth.tar', ema=ema.module.eval(), top1=top1, top5=top5)


@pytest.fixture(scope='module')
def pushed(train_py_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp('pushed') / REPO_ID.split('/')[1]
    main(['push', '--model', MODEL, '--checkpoint', str(train_py_run.checkpoint), '--repo-id', REPO_ID,
          '--local-dir', str(folder)])
    return folder


@pytest.fixture(scope='module')
def images():
    return torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def test_push_writes_the_hub_layout_with_the_training_data_config(pushed):
    assert sorted(p.name for p in pushed.iterdir()) == ['README.md', 'config.json', 'model.safetensors']
    config = json.loads((pushed / 'config.json').read_text())
    assert config['architecture'] == MODEL
    model_args = config['model_args']
    assert (model_args['in_chans'], model_args['num_classes'], model_args['img_size']) == (1, 10, [28, 28])
    cfg = config['pretrained_cfg']
    assert (cfg['input_size'], cfg['mean'], cfg['std']) == ([1, 28, 28], list(FASHION_MNIST_MEAN), list(FASHION_MNIST_STD))
    assert config['label_names'] == list(FASHION_MNIST_LABELS)
    assert not list(pushed.parent.glob('.*')), 'no staging folder is left beside the output'


def test_push_publishes_the_ema_weights_and_the_card_has_the_runs_numbers(pushed, train_py_run):
    model = timm.create_model(f'local-dir:{pushed}', pretrained=True)
    for name, tensor in train_py_run.ema.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    card = (pushed / 'README.md').read_text()
    assert card.startswith('---\n') and 'library_name: timm' in card
    assert f'{train_py_run.top1:.2f}' in card and f'{train_py_run.top5:.2f}' in card
    assert f'{sum(p.numel() for p in model.parameters()):,}' in card
    assert f'{count_flops(model.eval(), (1, 28, 28)) / 1e6:.2f}' in card
    assert REPO_ID in card


def _reference(train_py_run, images):
    with torch.no_grad():
        return train_py_run.ema(images)


def test_local_dir_and_pretrained_cfg_overlay_reproduce_the_trained_model(pushed, train_py_run, images):
    expected = _reference(train_py_run, images)
    for model in (
            timm.create_model(f'local-dir:{pushed}', pretrained=True),
            timm.create_model(f'{MODEL}.{FASHION_MNIST_TAG}', pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(pushed / 'model.safetensors')))):
        with torch.no_grad():
            assert torch.equal(model.eval()(images), expected)


def test_pretrained_true_and_hf_hub_load_from_the_offline_cache(pushed, train_py_run, images, tmp_path):
    """ In a fresh process with HF_HOME and HF_HUB_OFFLINE=1 set before huggingface_hub reads them, as a user sets
    them: the registered tag's hf_hub_id and the hf-hub: name both resolve to the cached files. """
    lay_out_hf_cache(tmp_path / 'hf', REPO_ID, pushed)
    torch.save(images, tmp_path / 'images.pt')
    script = (
        'import sys, timm, torch, timm_attnzoo\n'
        f'x = torch.load(r"{tmp_path / "images.pt"}")\n'
        f'tagged = timm.create_model("{MODEL}.{FASHION_MNIST_TAG}", pretrained=True).eval()\n'
        f'hub = timm.create_model("hf-hub:{REPO_ID}", pretrained=True).eval()\n'
        'with torch.no_grad():\n'
        f'    torch.save([tagged(x), hub(x)], r"{tmp_path / "outputs.pt"}")\n')
    env = dict(os.environ, HF_HOME=str(tmp_path / 'hf'), HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1')
    subprocess.run([sys.executable, '-c', script], env=env, check=True, cwd=tmp_path)
    expected = _reference(train_py_run, images)
    for output in torch.load(tmp_path / 'outputs.pt'):
        assert torch.equal(output, expected)


def test_hf_hub_name_without_the_import_fails_and_the_card_says_to_import(pushed, tmp_path):
    lay_out_hf_cache(tmp_path / 'hf', REPO_ID, pushed)
    env = dict(os.environ, HF_HOME=str(tmp_path / 'hf'), HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, '-c', f'import timm; timm.create_model("hf-hub:{REPO_ID}")'],
                            env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0 and f'Unknown model ({MODEL})' in result.stderr
    assert 'import timm_attnzoo' in (pushed / 'README.md').read_text()


def test_other_in_chans_and_num_classes_adapt_the_first_conv_and_the_classifier(pushed, train_py_run, images):
    model = timm.create_model(f'local-dir:{pushed}', pretrained=True, in_chans=3, num_classes=5).eval()
    assert model.head.out_features == 5
    with torch.no_grad():
        features = model.forward_head(model.forward_features(images.expand(-1, 3, -1, -1)), pre_logits=True)
        expected = train_py_run.ema.forward_head(train_py_run.ema.forward_features(images), pre_logits=True)
    # the 1-channel kernel spread over 3 equal channels: a gray image repeated gives the same features
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5)


def test_pretrained_true_without_weights_names_the_tags_that_have_them():
    with pytest.raises(ValueError, match=rf'{MODEL}\.{FASHION_MNIST_TAG}'):
        timm.create_model(MODEL, pretrained=True)


@pytest.mark.parametrize('damage', ['truncated', 'header_cut', 'garbage_header', 'empty'])
def test_damaged_safetensors_is_a_clear_error(pushed, tmp_path, damage):
    folder = tmp_path / 'weights'
    folder.mkdir()
    for path in pushed.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    data = (folder / 'model.safetensors').read_bytes()
    damaged = dict(truncated=data[:len(data) // 2], header_cut=data[:40], garbage_header=data[:8] + b'\xff' * 64 + data[72:],
                   empty=b'')[damage]
    (folder / 'model.safetensors').write_bytes(damaged)
    for name, kwargs in ((f'local-dir:{folder}', {}),
                         (f'{MODEL}.{FASHION_MNIST_TAG}', dict(pretrained_cfg_overlay=dict(file=str(folder / 'model.safetensors'))))):
        with pytest.raises(ValueError, match='truncated or corrupted') as error:
            timm.create_model(name, pretrained=True, **kwargs)
        assert str(folder / 'model.safetensors') in str(error.value)


@pytest.mark.parametrize('other', ['swin_cifar', 'vit_performer_cifar'])
def test_weights_of_another_architecture_are_a_clear_error(pushed, other):
    # swin's keys are not the ViT's; the Performer ViT has the ViT's parameters and Performer buffers besides
    with pytest.raises(ValueError, match=f'not weights of {other}.*local-dir:') as error:
        timm.create_model(f'{other}.{FASHION_MNIST_TAG}', pretrained=True,
                          pretrained_cfg_overlay=dict(file=str(pushed / 'model.safetensors')))
    assert str(pushed / 'model.safetensors') in str(error.value)


def _push_error(*argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(['push', *argv])
    return str(exit_info.value)


def test_push_errors_name_the_problem_and_leave_nothing(train_py_run, tmp_path):
    ckpt = str(train_py_run.checkpoint)
    taken = tmp_path / 'taken'
    taken.mkdir()
    (taken / 'keep.txt').write_text('mine')
    message = _push_error('--model', MODEL, '--checkpoint', ckpt, '--repo-id', REPO_ID, '--local-dir', str(taken))
    assert 'not empty' in message and [p.name for p in taken.iterdir()] == ['keep.txt']

    message = _push_error('--model', 'vit_linformer_cifar', '--checkpoint', ckpt, '--repo-id', REPO_ID,
                          '--local-dir', str(tmp_path / 'a'))
    assert 'trained as vit_cifar' in message

    truncated = tmp_path / 'truncated.pth.tar'
    truncated.write_bytes(train_py_run.checkpoint.read_bytes()[:5000])
    message = _push_error('--model', MODEL, '--checkpoint', str(truncated), '--repo-id', REPO_ID,
                          '--local-dir', str(tmp_path / 'b'))
    assert 'not a readable PyTorch checkpoint' in message

    message = _push_error('--model', MODEL, '--checkpoint', ckpt, '--repo-id', 'no_owner',
                          '--local-dir', str(tmp_path / 'c'))
    assert 'ORGANISATION/NAME' in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ['taken', 'truncated.pth.tar']


def test_study_weights_and_checkpoint_files_push_too(train_py_run, tmp_path):
    """ A bare state dict with --data-set; the pushed folder pushes again (a study run's weights/ is such a folder). """
    bare = tmp_path / 'bare.pth'
    torch.save(train_py_run.ema.state_dict(), bare)
    first = push(MODEL, bare, REPO_ID, local_dir=tmp_path / 'first', data_set='fashion_mnist')
    again = push(None, first, REPO_ID, local_dir=tmp_path / 'again')
    for folder in (first, again):
        model, _, _ = load_trained_model(None, folder)
        for name, tensor in train_py_run.ema.state_dict().items():
            assert torch.equal(model.state_dict()[name], tensor), name
    with pytest.raises(PushError, match='--data-set'):
        push(MODEL, bare, REPO_ID, local_dir=tmp_path / 'third')


class _HubAnswers(BaseHTTPRequestHandler):
    """ The Hub's answers to repository creation (`create_status`) and deletion; every other request, the first of
    an upload, is refused (400). Records the requests. """
    create_status = 200
    requests = []

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        self.rfile.read(int(self.headers.get('Content-Length') or 0))
        self.requests.append((self.command, self.path))
        if self.path == '/api/repos/create':
            if self.create_status == 409:
                return self._reply(409, {'error': 'You already created this model repo'})
            return self._reply(200, {'url': f'{self.server.endpoint}/{REPO_ID}', 'name': REPO_ID, 'id': REPO_ID})
        if self.path == '/api/repos/delete':
            return self._reply(200, {})
        return self._reply(400, {'error': 'upload rejected'})

    do_POST = do_DELETE = do_GET = do_PUT = _handle

    def log_message(self, *args):
        pass


@pytest.fixture
def hub_server(monkeypatch):
    server = ThreadingHTTPServer(('127.0.0.1', 0), _HubAnswers)
    server.endpoint = f'http://127.0.0.1:{server.server_port}'
    _HubAnswers.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(hf_constants, 'ENDPOINT', server.endpoint)
    monkeypatch.setenv('HF_TOKEN', 'hf_test_token')
    yield _HubAnswers
    server.shutdown()


def _closed_port() -> int:
    with ThreadingHTTPServer(('127.0.0.1', 0), BaseHTTPRequestHandler) as server:
        return server.server_port


def test_upload_without_a_token_stops_before_anything(train_py_run, monkeypatch, tmp_path):
    monkeypatch.delenv('HF_TOKEN', raising=False)
    monkeypatch.setattr(hf_constants, 'HF_TOKEN_PATH', str(tmp_path / 'no_token'))
    monkeypatch.setattr(hf_constants, 'HF_STORED_TOKENS_PATH', str(tmp_path / 'no_tokens'))
    message = _push_error('--model', MODEL, '--checkpoint', str(train_py_run.checkpoint), '--repo-id', REPO_ID)
    assert 'No Hugging Face token' in message and 'HF_TOKEN' in message


def test_upload_without_network_or_in_offline_mode_says_so(train_py_run, monkeypatch):
    monkeypatch.setenv('HF_TOKEN', 'hf_test_token')
    monkeypatch.setattr(hf_constants, 'ENDPOINT', f'http://127.0.0.1:{_closed_port()}')
    message = _push_error('--model', MODEL, '--checkpoint', str(train_py_run.checkpoint), '--repo-id', REPO_ID)
    assert 'Cannot reach the Hugging Face Hub' in message and 'Nothing was uploaded' in message
    monkeypatch.setattr(hf_constants, 'HF_HUB_OFFLINE', True)
    message = _push_error('--model', MODEL, '--checkpoint', str(train_py_run.checkpoint), '--repo-id', REPO_ID)
    assert 'offline mode' in message


def test_upload_to_an_existing_repository_stops_unless_exist_ok(train_py_run, hub_server):
    hub_server.create_status = 409
    message = _push_error('--model', MODEL, '--checkpoint', str(train_py_run.checkpoint), '--repo-id', REPO_ID)
    assert 'already exists' in message and '--exist-ok' in message
    assert hub_server.requests == [('POST', '/api/repos/create')]
    message = _push_error('--model', MODEL, '--checkpoint', str(train_py_run.checkpoint), '--repo-id', REPO_ID,
                          '--exist-ok')
    assert 'Uploading' in message and 'deleted' not in message, 'a repository it did not create is left alone'


def test_failed_upload_deletes_the_repository_it_created(train_py_run, hub_server):
    hub_server.create_status = 200
    message = _push_error('--model', MODEL, '--checkpoint', str(train_py_run.checkpoint), '--repo-id', REPO_ID)
    assert f'Uploading to {REPO_ID} failed' in message and 'deleted again' in message
    assert hub_server.requests[0] == ('POST', '/api/repos/create')
    assert hub_server.requests[-1] == ('DELETE', '/api/repos/delete')
