""" DistributedDataParallel on the CPU: `torchrun --nproc_per_node 2` with gloo trains every registered model a few
steps as timm's train.py wraps it (tests/distributed_worker.py), and the ranks end with the same weights and, with
the Performer redrawing its features every step, the same features. """
import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import ZOO_MODELS
from .distributed_worker import STEPS

ROOT = Path(__file__).resolve().parents[1]
PERFORMER_MODELS = [name for name in ZOO_MODELS if 'performer' in name]


def _torchrun(data_root, broadcast_buffers, models):
    """ The worker's report per model; a rank that fails (an unused-parameter error of DDP, say) fails the test. """
    command = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
               str(ROOT / 'tests' / 'distributed_worker.py'), str(data_root), str(broadcast_buffers), *models]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=1200,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1'))
    assert result.returncode == 0, result.stderr[-5000:]
    return {report['model']: report for report in map(json.loads, result.stdout.splitlines()[-len(models):])}


def _check(reports, models):
    assert list(reports) == list(models)
    for name, report in reports.items():
        assert report['differing'] == [], f'{name}: the ranks differ in {report["differing"][:5]}'
        assert all(redraws == STEPS for redraws in report['redraws']), f'{name}: {report["redraws"]}'


def test_every_model_trains_under_ddp_and_the_ranks_end_with_the_same_weights(fashion_mnist_root):
    _check(_torchrun(fashion_mnist_root, True, ZOO_MODELS), ZOO_MODELS)


def test_performer_features_agree_between_ranks_without_broadcast_buffers(fashion_mnist_root):
    # train.py --no-ddp-bb: buffers are made rank 0's once, when DDP wraps the model; every redraw after that must
    # agree on its own (the features are a function of a seed and a redraw count, not of a rank's random state)
    _check(_torchrun(fashion_mnist_root, False, PERFORMER_MODELS), PERFORMER_MODELS)
