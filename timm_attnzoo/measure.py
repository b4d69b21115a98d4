""" What a model costs, measured the same way for every run of a study: parameters, FLOPs (timm_attnzoo.flops,
one image), inference latency and the peak memory of a training step.

Latency: the median of `runs` timed forwards in eval mode under `torch.inference_mode`, after `warmup`
untimed ones, on the study's device and threads. Peak memory of one forward and backward at the study's
batch size: on CUDA the growth of `torch.cuda.max_memory_allocated` over what was allocated before; on a
Linux CPU the growth of the process's resident set over the step (its high-water mark VmHWM, reset through
/proc/self/clear_refs, against VmRSS before the step, after returning freed heap to the system), which
counts the allocator's overhead too; elsewhere it is not measured (NaN).
"""
import ctypes
import gc
import math
import statistics
import time
from pathlib import Path
from typing import Dict, Sequence

import torch
import torch.nn as nn

from ..flops import count_flops

MIB = 2 ** 20
PROC_STATUS = Path('/proc/self/status')
PROC_CLEAR_REFS = Path('/proc/self/clear_refs')


def _proc_status_mib(key: str) -> float:
    for line in PROC_STATUS.read_text().splitlines():
        if line.startswith(key + ':'):
            return int(line.split()[1]) * 1024 / MIB
    raise KeyError(key)


def _training_step(model: nn.Module, x: torch.Tensor) -> None:
    model.train()
    model(x).float().logsumexp(-1).mean().backward()
    model.zero_grad(set_to_none=True)


def peak_training_memory_mib(model: nn.Module, input_size: Sequence[int], batch_size: int, device: torch.device) -> float:
    """ Memory one forward and backward at `batch_size` takes beyond what the model already holds (MiB). """
    x = torch.randn(batch_size, *input_size, device=device)
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        _training_step(model, x)
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / MIB
    if device.type != 'cpu':
        return math.nan
    gc.collect()
    ctypes.CDLL(None).malloc_trim(0)
    try:
        PROC_CLEAR_REFS.write_text('5')  # resets VmHWM to the current VmRSS
    except OSError:  # not Linux, or not allowed
        return math.nan
    before = _proc_status_mib('VmRSS')
    _training_step(model, x)
    return _proc_status_mib('VmHWM') - before


@torch.inference_mode()
def inference_latency_ms(
        model: nn.Module, input_size: Sequence[int], device: torch.device, batch_size: int = 1,
        warmup: int = 3, runs: int = 10) -> float:
    model.eval()
    x = torch.randn(batch_size, *input_size, device=device)
    times = []
    for i in range(warmup + runs):
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        model(x)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def model_costs(model: nn.Module, input_size: Sequence[int], batch_size: int, device: torch.device) -> Dict[str, float]:
    """ params, flops (one image, multiply-add = 1), latency_ms (batch 1), peak_train_memory_mib (batch_size). """
    return dict(
        params=sum(p.numel() for p in model.parameters()),
        flops=count_flops(model, input_size),
        latency_ms=inference_latency_ms(model, input_size, device),
        peak_train_memory_mib=peak_training_memory_mib(model, input_size, batch_size, device),
    )
