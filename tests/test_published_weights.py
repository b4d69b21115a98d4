""" The published weights of a trained model: `vit_cifar`'s run of `attnzoo study --preset full`, exported with
`attnzoo push --local-dir` into tests/data/vit_cifar.fmnist_e30/ (docs/results.md#weights), loads through
`pretrained=True` from an offline Hugging Face cache in a fresh process, and scores on the whole Fashion-MNIST test
split the top-1 that docs/results.md and the weights' own card report. """
import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from timm_attnzoo.constants import HF_HUB_ORGANIZATION
from timm_attnzoo.models.pretrained_cfg import FASHION_MNIST_TAG

from .hf_cache import lay_out_hf_cache

ROOT = Path(__file__).resolve().parents[1]
MODEL = 'vit_cifar'
PUBLISHED = ROOT / 'tests' / 'data' / f'{MODEL}.{FASHION_MNIST_TAG}'
REPORTED = ROOT / 'docs' / 'figures' / 'fashion_mnist_full' / 'results.csv'
MANIFEST = ROOT / 'docs' / 'figures' / 'fashion_mnist_full' / 'weights.sha256'

EVALUATE = '''
import json, sys, timm, torch, timm_attnzoo
from timm.data import create_dataset, create_loader, resolve_data_config
model = timm.create_model(sys.argv[1], pretrained=True).eval()
dataset = create_dataset('torch/fashion_mnist', root=sys.argv[2], split='validation')
loader = create_loader(dataset, batch_size=500, use_prefetcher=False, num_workers=0, **resolve_data_config(model=model))
correct = 0
with torch.no_grad():
    for x, y in loader:
        correct += (model(x).argmax(-1) == y).sum().item()
print(json.dumps(dict(images=len(dataset), top1=100 * correct / len(dataset))))
'''


def _reported_top1() -> float:
    with REPORTED.open() as f:
        return next(float(row['top1']) for row in csv.DictReader(f) if row['model'] == MODEL)


def test_the_published_folder_is_what_push_writes():
    assert sorted(p.name for p in PUBLISHED.iterdir()) == ['README.md', 'config.json', 'model.safetensors']
    config = json.loads((PUBLISHED / 'config.json').read_text())
    assert config['architecture'] == MODEL
    assert config['pretrained_cfg']['input_size'] == [1, 28, 28]
    card = (PUBLISHED / 'README.md').read_text()
    assert f'{HF_HUB_ORGANIZATION}/{MODEL}.{FASHION_MNIST_TAG}' in card
    assert f'{_reported_top1():.2f}' in card, 'the card reports the top-1 of the run in docs/results.md'


def test_the_published_weights_are_the_ones_the_manifest_records():
    recorded = dict(line.split()[::-1] for line in MANIFEST.read_text().splitlines())  # path: SHA-256
    weights = PUBLISHED / 'model.safetensors'
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert recorded[f'{PUBLISHED.name}/{weights.name}'] == digest


def test_pretrained_true_from_an_offline_cache_scores_the_reported_top1(fashion_mnist_root, tmp_path):
    lay_out_hf_cache(tmp_path / 'hf', f'{HF_HUB_ORGANIZATION}/{MODEL}.{FASHION_MNIST_TAG}', PUBLISHED)
    env = dict(os.environ, HF_HOME=str(tmp_path / 'hf'), HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, '-c', EVALUATE, f'{MODEL}.{FASHION_MNIST_TAG}', str(fashion_mnist_root)],
        env=env, check=True, cwd=tmp_path, capture_output=True, text=True)
    measured = json.loads(result.stdout.splitlines()[-1])
    assert measured['images'] == 10000
    # the study evaluated in batches of 128 on two threads: at most a tie or two may fall the other way
    assert abs(measured['top1'] - _reported_top1()) <= 0.02, measured
