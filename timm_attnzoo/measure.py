""" What a model or an attention layer costs, measured the same way by `attnzoo study`, `attnzoo profile` and
`attnzoo scaling`: timed runs, and the peak memory of a forward and of a training step.

Timing: `runs` timed calls after `warmup` untimed ones, on the caller's device and threads (CUDA is
synchronized before and after each call); a `Timing` holds their median and quartiles, and its spread is
half the interquartile range. A forward runs in eval mode under `torch.inference_mode`. A training step is a
forward in train mode, a loss (the mean log-sum-exp of the outputs, a stand-in for cross-entropy) and its
backward, gradients dropped afterwards as `zero_grad(set_to_none=True)` does; there is no optimizer step,
whose cost is the same for every attention.

Peak memory, what one call at a batch size takes beyond what the model already holds: on CUDA the growth of
`torch.cuda.max_memory_allocated` over what was allocated before; on a Linux CPU the growth of the process's
resident set over the call (its high-water mark VmHWM, reset through /proc/self/clear_refs, against VmRSS
before the call, after returning freed heap to the system), which counts the allocator's overhead too;
elsewhere it is not measured (NaN). Resident memory moves in pages, so a call of a few KiB may read 0.
"""
import ctypes
import gc
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Sequence

import torch
import torch.nn as nn

from .flops import count_flops

MIB = 2 ** 20
PROC_STATUS = Path('/proc/self/status')
PROC_CLEAR_REFS = Path('/proc/self/clear_refs')


@dataclass(frozen=True)
class Timing:
    """ Seconds per call of the timed runs: median and first and third quartiles. """
    median: float
    q1: float
    q3: float

    @property
    def spread(self) -> float:
        """ Half the interquartile range. """
        return (self.q3 - self.q1) / 2


def _synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_calls(call: Callable[[], None], device: torch.device, warmup: int = 3, runs: int = 10) -> Timing:
    """ Time `runs` calls after `warmup` untimed ones. """
    if runs < 1:
        raise ValueError(f'runs={runs} must be at least 1.')
    times = []
    for i in range(warmup + runs):
        _synchronize(device)
        start = time.perf_counter()
        call()
        _synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    q1, _, q3 = statistics.quantiles(times, n=4, method='inclusive') if runs > 1 else times * 3
    return Timing(statistics.median(times), q1, q3)


def _proc_status_mib(key: str) -> float:
    for line in PROC_STATUS.read_text().splitlines():
        if line.startswith(key + ':'):
            return int(line.split()[1]) * 1024 / MIB
    raise KeyError(key)


def peak_memory_mib(call: Callable[[], None], device: torch.device) -> float:
    """ Memory one call takes at its peak beyond what was held before it (MiB), NaN where not measured. """
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        call()
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
    call()
    return _proc_status_mib('VmHWM') - before


def forward(model: nn.Module, x: torch.Tensor) -> None:
    """ An inference forward: eval mode, `torch.inference_mode`. """
    model.eval()
    with torch.inference_mode():
        model(x)


def training_step(model: nn.Module, x: torch.Tensor) -> None:
    """ A forward in train mode and the backward of the mean log-sum-exp of the outputs; gradients dropped. """
    model.train()
    model(x).float().logsumexp(-1).mean().backward()
    model.zero_grad(set_to_none=True)


def _input(input_size: Sequence[int], batch_size: int, device: torch.device) -> torch.Tensor:
    return torch.randn(batch_size, *input_size, device=device)


def forward_timing(
        model: nn.Module, input_size: Sequence[int], batch_size: int, device: torch.device,
        warmup: int = 3, runs: int = 10) -> Timing:
    """ Timing of an inference forward of a batch. """
    x = _input(input_size, batch_size, device)
    return time_calls(lambda: forward(model, x), device, warmup, runs)


def training_step_timing(
        model: nn.Module, input_size: Sequence[int], batch_size: int, device: torch.device,
        warmup: int = 3, runs: int = 10) -> Timing:
    """ Timing of a training step (forward and backward) of a batch. """
    x = _input(input_size, batch_size, device)
    return time_calls(lambda: training_step(model, x), device, warmup, runs)


def peak_forward_memory_mib(model: nn.Module, input_size: Sequence[int], batch_size: int, device: torch.device) -> float:
    """ Memory an inference forward at `batch_size` takes beyond what the model and the input hold (MiB). """
    x = _input(input_size, batch_size, device)
    return peak_memory_mib(lambda: forward(model, x), device)


def peak_training_memory_mib(model: nn.Module, input_size: Sequence[int], batch_size: int, device: torch.device) -> float:
    """ Memory one forward and backward at `batch_size` takes beyond what the model and the input hold (MiB). """
    x = _input(input_size, batch_size, device)
    return peak_memory_mib(lambda: training_step(model, x), device)


def inference_latency_ms(
        model: nn.Module, input_size: Sequence[int], device: torch.device, batch_size: int = 1,
        warmup: int = 3, runs: int = 10) -> float:
    """ Median time of an inference forward of a batch (ms). """
    return 1000 * forward_timing(model, input_size, batch_size, device, warmup, runs).median


def model_costs(model: nn.Module, input_size: Sequence[int], batch_size: int, device: torch.device) -> Dict[str, float]:
    """ params, flops (one image, multiply-add = 1), latency_ms (batch 1), peak_train_memory_mib (batch_size). """
    return dict(
        params=sum(p.numel() for p in model.parameters()),
        flops=count_flops(model, input_size),
        latency_ms=inference_latency_ms(model, input_size, device),
        peak_train_memory_mib=peak_training_memory_mib(model, input_size, batch_size, device),
    )
