""" `attnzoo profile`: what a model costs to run at one input size and batch size, measured as
`timm_attnzoo.measure` measures it.

For each model: parameters; FLOPs of one image (`timm_attnzoo.flops`, a multiply-add is one FLOP); inference
latency per image and throughput (the median time of an inference forward of the batch, divided into the
batch); the training step time (forward and backward of the batch, no optimizer step) and its throughput;
and the peak memory of the forward and of the training step beyond what the model holds. Times are the
median of the timed runs after the warm-up ones, with half their interquartile range as the spread.

A model built for another size gets `img_size` when it is fixed-size (`dataset_specs.img_size_kwargs`);
the others just take the larger input. A model that cannot be built or run at the size gives a row whose
`error` says why and whose measurements are empty.
"""
import sys
from typing import Dict, List, Optional, Sequence, Union

import timm
import torch
from tqdm import tqdm

from .dataset_specs import img_size_kwargs
from .flops import count_flops
from .measure import forward_timing, peak_forward_memory_mib, peak_training_memory_mib, training_step_timing
from .model_table import Column, format_rows

MEASURED_FIELDS = (
    'params', 'flops', 'latency_ms', 'latency_spread_ms', 'throughput', 'train_step_ms', 'train_step_spread_ms',
    'train_throughput', 'peak_forward_mib', 'peak_train_mib')


def _median_spread(row: Dict[str, object], key: str) -> str:
    return f"{row[key]:.2f} ± {row[key.replace('_ms', '_spread_ms')]:.2f}"


PROFILE_COLUMNS = (
    Column('model', lambda row: row['model'], left=True),
    Column('input', lambda row: row['input_size']),
    Column('batch', lambda row: str(row['batch_size'])),
    Column('params', lambda row: f"{row['params']:,}"),
    Column('MFLOPs/img', lambda row: f"{row['flops'] / 1e6:.2f}"),
    Column('latency ms/img ± IQR/2', lambda row: _median_spread(row, 'latency_ms')),
    Column('img/s', lambda row: f"{row['throughput']:.1f}"),
    Column('train ms/step ± IQR/2', lambda row: _median_spread(row, 'train_step_ms')),
    Column('train img/s', lambda row: f"{row['train_throughput']:.1f}"),
    Column('peak fwd MiB', lambda row: f"{row['peak_forward_mib']:.1f}"),
    Column('peak train MiB', lambda row: f"{row['peak_train_mib']:.1f}"),
)


def profile_model(
        model_name: str,
        img_size: Optional[int] = None,
        in_chans: int = 3,
        batch_size: int = 32,
        device: Union[str, torch.device] = 'cpu',
        warmup: int = 3,
        runs: int = 10,
) -> Dict[str, object]:
    """ One model's row: its costs on (batch_size, in_chans, img_size, img_size) input (default: its own size). """
    device = torch.device(device)
    img_size = img_size or timm.models.get_pretrained_cfg(model_name).input_size[-1]
    input_size = (in_chans, img_size, img_size)
    row = dict(model=model_name, input_size='x'.join(map(str, input_size)), batch_size=batch_size, device=str(device),
               warmup=warmup, runs=runs)
    try:
        model = timm.create_model(model_name, in_chans=in_chans, **img_size_kwargs(model_name, img_size)).to(device)
        flops = count_flops(model, input_size)
        forward = forward_timing(model, input_size, batch_size, device, warmup, runs)
        peak_forward = peak_forward_memory_mib(model, input_size, batch_size, device)
        train_step = training_step_timing(model, input_size, batch_size, device, warmup, runs)
        peak_train = peak_training_memory_mib(model, input_size, batch_size, device)
    except (AssertionError, RuntimeError, ValueError) as error:  # a size the model refuses, or out of memory
        return dict(row, **dict.fromkeys(MEASURED_FIELDS), error=f'{type(error).__name__}: {error}')
    return dict(
        row,
        params=sum(p.numel() for p in model.parameters()),
        flops=flops,
        latency_ms=1000 * forward.median / batch_size,
        latency_spread_ms=1000 * forward.spread / batch_size,
        throughput=batch_size / forward.median,
        train_step_ms=1000 * train_step.median,
        train_step_spread_ms=1000 * train_step.spread,
        train_throughput=batch_size / train_step.median,
        peak_forward_mib=peak_forward,
        peak_train_mib=peak_train,
        error='',
    )


def profile_models(model_names: Sequence[str], **kwargs) -> List[Dict[str, object]]:
    """ A row per model (`profile_model`'s keyword arguments), with a progress bar on stderr. """
    return [profile_model(name, **kwargs) for name in tqdm(model_names, desc='profile', leave=False, file=sys.stderr)]


def format_profile(rows: List[Dict[str, object]], fmt: str = 'table') -> str:
    """ The rows as a table, CSV or JSON. The table lists the models that failed after it, each with its error. """
    if fmt != 'table':
        return format_rows(rows, fmt)
    measured = [row for row in rows if not row['error']]
    lines = [format_rows(measured, 'table', PROFILE_COLUMNS)] if measured else []
    if measured:
        first = measured[0]
        lines.append(
            f"{first['device']}; times: median ± half the interquartile range of {first['runs']} timed runs after "
            f"{first['warmup']} warm-up; latency and img/s: inference forwards of the batch; train: forward + backward")
    lines += [f"{row['model']} at {row['input_size']}: {row['error']}" for row in rows if row['error']]
    return '\n'.join(lines)
