""" What tests/test_distributed.py runs under `torchrun --nproc_per_node 2`: models train a few steps on the CPU with
gloo, wrapped in DistributedDataParallel by timm's `ClassificationTask.prepare_distributed` as train.py wraps them
(find_unused_parameters left off), each rank on its own Fashion-MNIST batches and from its own random initial
weights. Performer layers redraw their features every step. Rank 0 prints a JSON line per model: the parameters
and Performer buffers that differ between the ranks, and the Performer layers' redraw counts.

    torchrun --nproc_per_node 2 tests/distributed_worker.py DATA_ROOT BROADCAST_BUFFERS MODEL [MODEL ...]
"""
import hashlib
import json
import sys

import torch
import torch.distributed as dist
from timm.optim import create_optimizer_v2
from timm.task import ClassificationTask

from tests.conftest import fashion_mnist_model, fashion_mnist_train_batches
from timm_attnzoo.layers import PerformerAttention

STEPS, BATCH_SIZE = 3, 16


def _batches(data_root: str, rank: int, world_size: int):
    """ The rank's batches: every world_size-th of the first ones of the training set. """
    return fashion_mnist_train_batches(data_root, BATCH_SIZE, STEPS * world_size)[rank::world_size]


def _digests(model: torch.nn.Module):
    """ A hash of every parameter and of the Performer layers' buffers (batch norm statistics are each rank's own). """
    tensors = dict(model.named_parameters())
    for name, module in model.named_modules():
        if isinstance(module, PerformerAttention):
            tensors.update({f'{name}.{key}': value for key, value in module.named_buffers(recurse=False)})
    return {name: hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest() for name, t in tensors.items()}


def main(data_root: str, broadcast_buffers: bool, model_names) -> None:
    dist.init_process_group('gloo')
    torch.set_num_threads(1)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    batches = _batches(data_root, rank, world_size)
    for name in model_names:
        torch.manual_seed(rank)  # each rank its own initial weights and feature seeds: DDP makes them rank 0's
        model = fashion_mnist_model(name)
        performers = [m for m in model.modules() if isinstance(m, PerformerAttention)]
        for performer in performers:
            performer.feature_redraw_interval = 1
        task = ClassificationTask(model, device=torch.device('cpu'), verbose=False)
        task.prepare_distributed(device_ids=None, broadcast_buffers=broadcast_buffers)
        optimizer = create_optimizer_v2(model, 'adamw', lr=1e-3)
        task.train()
        for x, y in batches:
            loss = task(x, y)['loss']
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        digests = [None] * world_size
        dist.all_gather_object(digests, _digests(model))
        if rank == 0:
            differing = sorted(key for key in digests[0] if any(d[key] != digests[0][key] for d in digests[1:]))
            print(json.dumps(dict(model=name, differing=differing, redraws=[int(p.num_redraws) for p in performers])),
                  flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2] == 'True', sys.argv[3:])
