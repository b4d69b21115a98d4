""" `attnzoo scaling`: how time, memory and FLOPs grow with the number of tokens N, for each attention mechanism
on its own and for each model family, and where the linear mechanisms overtake softmax attention.

Two sweeps, each point measured as `timm_attnzoo.measure` measures: the median time of a training step
(forward and backward of the batch, after the warm-up steps), its peak memory beyond what the module holds,
and the FLOPs of a forward of one sample (`timm_attnzoo.flops`).

* layers: every mechanism of `ATTENTION_LAYERS` built by `create_attention` for an s x s token grid without
  prefix tokens (N = s^2; Linformer's projection is built for that N), each with its own default settings;
  the lambda layer (`pos_emb='conv'`) on an s x s feature map of the same width; and the Perceiver's
  cross-attention, a fixed array of latents attending to the N tokens. One width and head count for all.
* models: a model per family and the efficient-attention ViT with each attention type, at square image sizes
  (fixed-size models built for each). The token count of each is proportional to the pixels, so N is H*W
  here, whatever the patch size.

Growth exponent: the least-squares slope of log(metric) against log(N) over the upper half of the sweep, the
ceil(n / 2) largest N of its n (at least two), where fixed costs no longer dominate; points with no memory
reading (0 or NaN) are left out. Crossover: the N past which a mechanism stays below the reference (softmax
attention; for the models, the softmax ViT `vit_cifar`, compared with the ViTs of the other attentions only),
interpolated linearly on the log-log lines between the neighbouring sweep points; the smallest N when it is
below everywhere, None when it is not below at the largest N.
"""
import csv
import json
import math
from itertools import product
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import timm
import torch
import torch.nn as nn
from matplotlib.figure import Figure
from timm.models import model_entrypoint
from tqdm import tqdm

from .dataset_specs import img_size_kwargs
from .flops import count_flops
from .layers import ATTENTION_LAYERS, CrossAttention, LambdaLayer, create_attention
from .measure import peak_training_memory_mib, training_step_timing
from .model_table import Column, format_rows

LAYER_MECHANISMS = (*ATTENTION_LAYERS, 'lambda', 'cross_attention')
REFERENCE_LAYER = 'softmax'
REFERENCE_MODEL = 'vit_cifar'
SCALING_MODELS = (
    'vit_cifar', 'vit_linformer_cifar', 'vit_performer_cifar', 'vit_performer_relu_cifar', 'vit_nystrom_cifar',
    'vit_dilated_linear_cifar', 'perceiver_io_cifar', 'mixformer_tiny_cifar', 'lambda_resnet_tiny_cifar',
    'swin_cifar', 'mixer_cifar')
DEFAULT_TOKENS = (64, 256, 1024, 4096)
DEFAULT_IMG_SIZES = (32, 64, 128, 224)
NUM_LATENTS = 32  # the zoo's Perceivers' latent array
METRICS = (  # (point key, short name, axis label)
    ('time_ms', 'time', 'training step time (ms)'),
    ('memory_mib', 'memory', 'peak training step memory (MiB)'),
    ('flops', 'FLOPs', 'forward FLOPs per sample'),
)


class LatentCrossAttention(nn.Module):
    """ The Perceiver's cross-attend alone: a learned latent array (num_latents, dim) attends to tokens (B, N, dim). """

    def __init__(self, dim: int, num_heads: int, num_latents: int = NUM_LATENTS) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim) * 0.02)
        self.attn = CrossAttention(dim, num_heads=num_heads, head_dim=dim // num_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(self.latents.expand(x.shape[0], -1, -1), context=x)  # B, num_latents, dim


def grid_side(num_tokens: int) -> int:
    side = math.isqrt(num_tokens)
    if side * side != num_tokens:
        raise ValueError(f'tokens={num_tokens} is not a square grid s*s; choose from 16, 64, 256, 1024, 4096, 16384, ...')
    return side


def create_scaling_layer(mechanism: str, width: int, num_heads: int, num_tokens: int) -> Tuple[nn.Module, Tuple[int, ...]]:
    """ The mechanism's layer for N = num_tokens on an s x s grid, and the input size of one sample. """
    side = grid_side(num_tokens)
    if mechanism == 'lambda':
        return LambdaLayer(width, num_heads=num_heads, pos_emb='conv'), (width, side, side)
    if mechanism == 'cross_attention':
        return LatentCrossAttention(width, num_heads), (num_tokens, width)
    return create_attention(mechanism, width, num_heads, (side, side), num_prefix_tokens=0), (num_tokens, width)


def measure_point(
        module: nn.Module, input_size: Sequence[int], batch_size: int, device: torch.device, warmup: int, runs: int,
) -> Dict[str, float]:
    """ A sweep point: training step time (median and half IQR), its peak memory, and forward FLOPs of a sample. """
    module = module.to(device)
    timing = training_step_timing(module, input_size, batch_size, device, warmup, runs)
    return dict(
        time_ms=1000 * timing.median, time_spread_ms=1000 * timing.spread,
        memory_mib=peak_training_memory_mib(module, input_size, batch_size, device),
        flops=count_flops(module, input_size))


def sweep_layers(
        tokens: Sequence[int] = DEFAULT_TOKENS, mechanisms: Sequence[str] = LAYER_MECHANISMS, width: int = 256,
        num_heads: int = 4, batch_size: int = 2, device: Union[str, torch.device] = 'cpu', warmup: int = 1,
        runs: int = 5,
) -> List[Dict[str, object]]:
    """ A point per mechanism and token count N. """
    unknown = [mechanism for mechanism in mechanisms if mechanism not in LAYER_MECHANISMS]
    if unknown:
        raise ValueError(f'mechanisms {unknown} are not attention mechanisms; choose from {LAYER_MECHANISMS}.')
    for n in tokens:
        grid_side(n)
    device = torch.device(device)
    points = []
    for mechanism, n in tqdm(list(product(mechanisms, tokens)), desc='layers', leave=False):
        layer, input_size = create_scaling_layer(mechanism, width, num_heads, n)
        points.append(dict(name=mechanism, n=n, **measure_point(layer, input_size, batch_size, device, warmup, runs)))
    return points


def sweep_models(
        img_sizes: Sequence[int] = DEFAULT_IMG_SIZES, models: Sequence[str] = SCALING_MODELS, batch_size: int = 2,
        device: Union[str, torch.device] = 'cpu', warmup: int = 1, runs: int = 5,
) -> List[Dict[str, object]]:
    """ A point per model and image size S, with N = S * S pixels. """
    unknown = [name for name in models if not timm.is_model(name)]
    if unknown:
        raise ValueError(f'models {unknown} are not registered; `attnzoo models` lists them.')
    device = torch.device(device)
    points = []
    for name, size in tqdm(list(product(models, img_sizes)), desc='models', leave=False):
        model = timm.create_model(name, **img_size_kwargs(name, size))
        point = measure_point(model, (3, size, size), batch_size, device, warmup, runs)
        points.append(dict(name=name, n=size * size, img_size=size, **point))
    return points


def _log_points(n: Sequence[float], values: Sequence[float]) -> List[Tuple[float, float]]:
    """ (log N, log value) where the value was measured (positive and finite). """
    return [(math.log(x), math.log(y)) for x, y in zip(n, values) if y is not None and 0 < y < math.inf]


def growth_exponent(n: Sequence[float], values: Sequence[float]) -> float:
    """ Least-squares slope of log(value) on log(N) over the ceil(len / 2) largest N (at least two); NaN when
    fewer than two of those have a value. """
    order = sorted(range(len(n)), key=lambda i: n[i])
    upper = order[-max(2, math.ceil(len(n) / 2)):]
    points = _log_points([n[i] for i in upper], [values[i] for i in upper])
    if len(points) < 2:
        return math.nan
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    return (sum((x - mean_x) * (y - mean_y) for x, y in points) /
            sum((x - mean_x) ** 2 for x, _ in points))


def crossover_n(n: Sequence[float], values: Sequence[float], reference: Sequence[float]) -> Optional[float]:
    """ The N past which `values` stays below `reference`, interpolated on the log-log lines between the last
    point at or above the reference and the next one; the smallest N when below everywhere; None when not below
    at the largest N. Points where either has no value are left out. """
    points = sorted(
        (x, math.log(y) - math.log(r)) for x, y, r in zip(n, values, reference)
        if y is not None and r is not None and 0 < y < math.inf and 0 < r < math.inf)
    if not points or points[-1][1] >= 0:
        return None
    above = [i for i, (_, gap) in enumerate(points) if gap >= 0]
    if not above:
        return points[0][0]
    (n0, gap0), (n1, gap1) = points[above[-1]], points[above[-1] + 1]
    return math.exp(math.log(n0) + gap0 / (gap0 - gap1) * (math.log(n1) - math.log(n0)))


def _series(points: Sequence[Dict[str, object]], name: str, key: str) -> Tuple[List[float], List[float]]:
    mine = sorted((p for p in points if p['name'] == name), key=lambda p: p['n'])
    return [p['n'] for p in mine], [p[key] for p in mine]


def summarize(
        points: Sequence[Dict[str, object]], reference: str, compared: Sequence[str]) -> List[Dict[str, object]]:
    """ Per name: the growth exponents of time, memory and FLOPs, and, for the `compared` names when the reference
    was swept, the crossover N of each against `reference` (None: not in range). """
    if not any(p['name'] == reference for p in points):
        compared = ()
    rows = []
    for name in dict.fromkeys(p['name'] for p in points):
        row = {'name': name, 'compared': name in compared}
        for key, _, _ in METRICS:
            n, values = _series(points, name, key)
            row[f'{key}_exponent'] = growth_exponent(n, values)
            row[f'{key}_crossover_n'] = (
                crossover_n(n, values, _series(points, reference, key)[1]) if row['compared'] else None)
        rows.append(row)
    return rows


def _crossover_cell(row: Dict[str, object], key: str, reference: str, smallest_n: float, as_side: bool) -> str:
    if row['name'] == reference:
        return 'reference'
    if not row['compared']:
        return 'n/a'
    crossover = row[f'{key}_crossover_n']
    if crossover is None:
        return 'not in range'
    text = f'{math.sqrt(crossover):.0f}^2' if as_side else f'{crossover:,.0f}'
    return f'<= {text}' if math.isclose(crossover, smallest_n) else text


def format_summary(
        rows: List[Dict[str, object]], reference: str, smallest_n: float, as_side: bool = False) -> str:
    """ The exponents and crossovers as a text table; crossovers as N, or as the image side S of N = S^2. """
    columns = [Column('name', lambda row: row['name'], left=True)]
    columns += [Column(f'{short} exponent', lambda row, key=key: f"{row[f'{key}_exponent']:.2f}")
                for key, short, _ in METRICS]
    columns += [Column(f'{short} crossover', lambda row, key=key: _crossover_cell(row, key, reference, smallest_n, as_side))
                for key, short, _ in METRICS]
    return format_rows(rows, 'table', columns)


def _interpolate(points: Sequence[Tuple[float, float]], x: float) -> float:
    """ The piecewise-linear function through `points` at x. """
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y0
    return points[0][1] if x < points[0][0] else points[-1][1]


def plot_sweep(
        points: Sequence[Dict[str, object]], rows: Sequence[Dict[str, object]], reference: str, x_label: str,
        title: str, path: Path) -> None:
    """ Three log-log panels (time, memory, FLOPs against N), each crossover marked on the reference's line. """
    fig = Figure(figsize=(16, 5))  # drawn off screen (Agg), whatever pyplot's backend is
    axes = fig.subplots(1, 3)
    others = [row['name'] for row in rows if row['name'] != reference]
    colors = {reference: 'black', **{name: f'C{i % 10}' for i, name in enumerate(others)}}
    styles = {reference: '-', **{name: '-' if i < 10 else '--' for i, name in enumerate(others)}}
    for ax, (key, _, label) in zip(axes, METRICS):
        for row in rows:
            n, values = _series(points, row['name'], key)
            measured = [(x, y) for x, y in zip(n, values) if y is not None and 0 < y < math.inf]
            ax.plot(*zip(*measured), styles[row['name']], marker='o', ms=3, color=colors[row['name']],
                    lw=2.5 if row['name'] == reference else 1.2, label=row['name'])
            crossover = row[f'{key}_crossover_n']
            if crossover is not None:
                reference_points = _log_points(*_series(points, reference, key))
                y = math.exp(_interpolate(reference_points, math.log(crossover)))
                ax.plot(crossover, y, marker='*', ms=13, color=colors[row['name']], markeredgecolor='black')
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set(xlabel=x_label, ylabel=label)
        ax.grid(alpha=0.3, which='both')
    axes[0].legend(fontsize=7)
    fig.suptitle(f'{title}; a star marks where a curve crosses below {reference} for good')
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_sweep(
        points: List[Dict[str, object]], sweep: str, reference: str, compared: Sequence[str],
        output: Union[str, Path], x_label: str, title: str, as_side: bool = False) -> str:
    """ Write OUTPUT/<sweep>.csv and .json (every point), <sweep>.txt (the summary table) and <sweep>.png (titled
    `title`); return the summary table. """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / f'{sweep}.json').write_text(json.dumps(points, indent=2))
    with (output / f'{sweep}.csv').open('w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(points[0]))
        writer.writeheader()
        writer.writerows(points)
    rows = summarize(points, reference, compared)
    table = format_summary(rows, reference, min(p['n'] for p in points), as_side)
    (output / f'{sweep}.txt').write_text(table + '\n')
    plot_sweep(points, rows, reference, x_label, title, output / f'{sweep}.png')
    return table


def run_scaling(
        output: Union[str, Path], mechanisms: Optional[Sequence[str]] = LAYER_MECHANISMS,
        models: Optional[Sequence[str]] = SCALING_MODELS, tokens: Sequence[int] = DEFAULT_TOKENS,
        img_sizes: Sequence[int] = DEFAULT_IMG_SIZES, width: int = 256, num_heads: int = 4, batch_size: int = 2,
        device: str = 'cpu', warmup: int = 1, runs: int = 5,
) -> Dict[str, str]:
    """ The layer sweep over `mechanisms` and the model sweep over `models` (None: skip it) into `output`; the
    summary table of each sweep. """
    tables = {}
    common = dict(batch_size=batch_size, device=device, warmup=warmup, runs=runs)
    setting = f'batch {batch_size}, {device}, median of {runs} training steps; log-log'
    if mechanisms:
        points = sweep_layers(tokens, mechanisms, width, num_heads, **common)
        compared = [name for name in mechanisms if name != REFERENCE_LAYER]
        tables['layers'] = write_sweep(
            points, 'layers', REFERENCE_LAYER, compared, output, 'tokens N', f'width {width}, {num_heads} heads, {setting}')
    if models:
        points = sweep_models(img_sizes, models, **common)
        vit_module = model_entrypoint(REFERENCE_MODEL).__module__
        compared = [name for name in models if name != REFERENCE_MODEL and model_entrypoint(name).__module__ == vit_module]
        tables['models'] = write_sweep(
            points, 'models', REFERENCE_MODEL, compared, output, 'pixels H*W (tokens are proportional)', setting,
            as_side=True)
    return tables
