""" Approximation quality: how far Linformer, Performer and Nyström attention are from exact softmax attention on
the q, k, v of a softmax model's layers, as each one's budget grows.

q, k, v come from every `SoftmaxAttention` layer of a model, read by forward hooks that call the layer's own
`split_heads` on its input: real images through a trained checkpoint, or random images through a randomly
initialised model. Each mechanism then runs on those heads (`attend`, and `attention_matrix` for the matrix it
implies) and is compared with exact attention, softmax(q k^T / sqrt(d)) v of 'Attention Is All You Need' eq. 1,
in float64:

    relative error = ||approx - exact||_F / ||exact||_F

per layer, over the whole (B, h, N, d) output (or the (B, h, N, N) matrix), then averaged over layers. The
mechanisms run as they run in a model, in float32.

The budgets and the choices made for an untrained mechanism:
  * Linformer, projected length k: E = F = R, R in R^{k x n} with i.i.d. N(0, 1/k) entries, the random projection
    of the paper's analysis ('Linformer', Wang et al. 2020: Theorem 1's Johnson-Lindenstrauss argument
    P ~= P R^T R; Theorem 2 builds E and F from such an R). Trained, E and F are learned; the layer's own init
    (uniform in +-1/sqrt(k), the reference code's) is as random, and the paper's claims are about R. Random
    projections are not an approximation in Linformer's form: R sits inside the softmax, where it does not cancel
    (softmax(Q K^T R^T) R V is not P R^T R V), so these rows say what an untrained Linformer computes, not what
    trained projections reach. What any projections could reach is bounded by `best_rank_k`: each mechanism's
    matrix has rank at most its budget (k, m features, m landmarks), so by Eckart-Young its matrix error is at
    least that of the exact matrix truncated to its k largest singular values.
  * Performer, m random features (FAVOR+, 'Rethinking Attention with Performers', Choromanski et al. 2021), the
    softmax kernel (Lemma 1, positive features) and the ReLU kernel (generalized attention, Sec. 2.2). Features are
    random: each budget is measured over several draws (the layer built under `torch.manual_seed(seed + draw)`, one
    draw used on every layer), averaged, and their spread reported. The ReLU kernel is another kernel, not an
    estimator of softmax: its error against softmax does not go to zero with m.
  * Nyström, m landmarks ('Nystromformer', Xiong et al. 2021, eq. 15), segment means, without the convolution on V
    (a trained part, not an approximation), with `pinv_iterations` of eq. 14 (6, the paper's and the layer's
    default). With m = N landmarks the formula is exact, and what is left is the pseudo-inverse iteration's error.
"""
import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean, stdev
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from matplotlib.figure import Figure
from timm.data import create_transform

from .checkpoints import create_model_from_checkpoint
from .dataset_specs import DATA_SETS, size_kwargs, test_dataset
from .layers import LinformerAttention, NystromAttention, PerformerAttention, SoftmaxAttention

DEFAULT_MODEL = 'vit_cifar'
MECHANISMS = ('linformer', 'performer', 'performer_relu', 'nystrom')
BEST_RANK = 'best_rank_k'
RANDOM_MECHANISMS = ('linformer', 'performer', 'performer_relu')
DEFAULT_BUDGETS = {
    'linformer': (8, 16, 32),  # and N
    'performer': (8, 16, 32, 64, 128, 256, 512),
    'performer_relu': (8, 16, 32, 64, 128, 256, 512),
    'nystrom': (4, 8, 16, 32),  # and N
}
TOKEN_BUDGETS = ('linformer', 'nystrom')  # a budget above N tokens means N
POINT_FIELDS = ('mechanism', 'budget', 'layer', 'draw', 'output_error', 'matrix_error')
SUMMARY_FIELDS = (
    'mechanism', 'budget', 'draws', 'output_error', 'output_spread', 'matrix_error', 'matrix_spread',
    'worst_layer_output_error')


@dataclass
class LayerHeads:
    """ The heads one softmax layer computed: q (after its qk norms), k, v, each (B, h, N, d). """
    name: str
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor


@torch.no_grad()
def capture_heads(model: nn.Module, images: torch.Tensor) -> List[LayerHeads]:
    """ q, k, v of every `SoftmaxAttention` of `model` on `images`, in forward order, from the layers' own
    `split_heads` called on their input by forward hooks. """
    captured: List[LayerHeads] = []

    def hook(name: str):
        def capture(layer: SoftmaxAttention, args, output) -> None:
            captured.append(LayerHeads(name, *layer.split_heads(args[0])))
        return capture

    handles = [module.register_forward_hook(hook(name))
               for name, module in model.named_modules() if isinstance(module, SoftmaxAttention)]
    if not handles:
        raise ValueError(f'{type(model).__name__} has no SoftmaxAttention layer to read q, k, v from; '
                         f'use a model with softmax attention, e.g. vit_cifar.')
    try:
        model.eval()(images)
    finally:
        for handle in handles:
            handle.remove()
    return captured


def exact_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """ softmax(q k^T / sqrt(d)) v and the matrix itself, in float64: (B, h, N, d), (B, h, N, N). """
    q, k, v = q.double(), k.double(), v.double()
    matrix = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)
    return matrix @ v, matrix


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """ ||approx - exact||_F / ||exact||_F over the whole tensor. """
    return ((approx.double() - exact).norm() / exact.norm()).item()


def best_rank_k_errors(matrix: torch.Tensor, ranks: Sequence[int]) -> List[float]:
    """ Relative error of the best rank-k approximation of each (N, N) matrix, for each k of `ranks`, over the
    whole (B, h, N, N) tensor (Eckart-Young: the tail of the singular values). """
    squared = torch.linalg.svdvals(matrix).square()  # B, h, N, descending
    return [(squared[..., rank:].sum() / squared.sum()).sqrt().item() for rank in ranks]


def linformer_random_projection(seq_len: int, proj_dim: int, seed: int) -> torch.Tensor:
    """ R in R^{k x n}, i.i.d. N(0, 1/k) (Wang et al. 2020, Theorem 1), stored as the layer stores E: (n, k). """
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(proj_dim, seq_len, generator=generator).div(math.sqrt(proj_dim)).T


def build_mechanism(
        mechanism: str,
        num_heads: int,
        head_dim: int,
        seq_len: int,
        budget: int,
        seed: int = 0,
        pinv_iterations: int = 6,
) -> nn.Module:
    """ The zoo's layer for `mechanism` at `budget`, with the choices of the module docstring; its `attend` and
    `attention_matrix` are what is measured (its QKV and output projections are not used). """
    dim = num_heads * head_dim
    if mechanism == 'linformer':
        layer = LinformerAttention(dim, num_heads, seq_len=seq_len, proj_dim=budget, share_kv=True)
        with torch.no_grad():
            layer.proj_k.copy_(linformer_random_projection(seq_len, budget, seed))
    elif mechanism in ('performer', 'performer_relu'):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the feature seed is drawn from the global generator
            layer = PerformerAttention(
                dim, num_heads, num_features=budget, kernel='relu' if mechanism == 'performer_relu' else 'softmax')
    elif mechanism == 'nystrom':
        layer = NystromAttention(
            dim, num_heads, num_landmarks=budget, pinv_iterations=pinv_iterations, residual_conv_kernel=None)
    else:
        raise ValueError(f'mechanism={mechanism!r} is not one of {MECHANISMS}.')
    return layer.eval()


def resolve_budgets(budgets: Dict[str, Sequence[int]], seq_len: int) -> Dict[str, List[int]]:
    """ Budgets sorted, without repeats; for Linformer and Nyström, capped at N with N itself included. """
    resolved = {}
    for mechanism, values in budgets.items():
        if mechanism not in MECHANISMS:
            raise ValueError(f'mechanism={mechanism!r} is not one of {MECHANISMS}.')
        if any(value < 1 for value in values):
            raise ValueError(f'{mechanism} budgets={list(values)} must all be at least 1.')
        if mechanism in TOKEN_BUDGETS:
            values = [min(value, seq_len) for value in values] + [seq_len]
        resolved[mechanism] = sorted(set(values))
    return resolved


@torch.no_grad()
def measure(
        layers: Sequence[LayerHeads],
        budgets: Optional[Dict[str, Sequence[int]]] = None,
        draws: int = 5,
        seed: int = 0,
        pinv_iterations: int = 6,
) -> List[Dict[str, Union[str, int, float, None]]]:
    """ Every point: one row per (mechanism, budget, layer, draw) with the output's and the matrix's relative error.

    The random mechanisms (Linformer's projection, Performer's features) are drawn `draws` times, with seeds
    seed, seed + 1, ...; Nyström is deterministic and measured once. `best_rank_k` rows hold the matrix error of
    the best rank-k approximation at every budget below N (no output error).
    """
    if draws < 1:
        raise ValueError(f'draws={draws} must be at least 1.')
    seq_len = layers[0].q.shape[2]
    budgets = resolve_budgets(DEFAULT_BUDGETS if budgets is None else budgets, seq_len)
    ranks = sorted({b for values in budgets.values() for b in values if b < seq_len})
    mechanisms: Dict[Tuple, nn.Module] = {}  # built once, used on every layer of the same shape
    rows = []
    for layer in layers:
        B, h, N, d = layer.q.shape
        exact_output, exact_matrix = exact_attention(layer.q, layer.k, layer.v)
        for mechanism, values in budgets.items():
            for budget in values:
                for draw in range(draws if mechanism in RANDOM_MECHANISMS else 1):
                    key = (mechanism, budget, draw, h, d, N)
                    if key not in mechanisms:
                        mechanisms[key] = build_mechanism(mechanism, h, d, N, budget, seed + draw, pinv_iterations)
                    attention = mechanisms[key]
                    rows.append(dict(
                        mechanism=mechanism, budget=budget, layer=layer.name, draw=draw,
                        output_error=relative_error(attention.attend(layer.q, layer.k, layer.v), exact_output),
                        matrix_error=relative_error(attention.attention_matrix(layer.q, layer.k), exact_matrix)))
        for rank, error in zip(ranks, best_rank_k_errors(exact_matrix, ranks)):
            rows.append(dict(
                mechanism=BEST_RANK, budget=rank, layer=layer.name, draw=0, output_error=None, matrix_error=error))
    return rows


def summarize(rows: Sequence[Dict]) -> List[Dict[str, Union[str, int, float, None]]]:
    """ One row per (mechanism, budget): the errors averaged over layers, then over draws; the spread is the
    standard deviation over draws of the layer average (0 for one draw); the worst layer's output error is
    averaged over draws. """
    groups: Dict[Tuple[str, int], List[Dict]] = {}
    for row in rows:
        groups.setdefault((row['mechanism'], row['budget']), []).append(row)
    summary = []
    for (mechanism, budget), group in groups.items():
        draws = sorted({row['draw'] for row in group})
        layers = sorted({row['layer'] for row in group})
        entry = dict(mechanism=mechanism, budget=budget, draws=len(draws))
        for part in ('output', 'matrix'):
            if group[0][f'{part}_error'] is None:
                entry[f'{part}_error'] = entry[f'{part}_spread'] = None
                continue
            per_draw = [fmean(row[f'{part}_error'] for row in group if row['draw'] == draw) for draw in draws]
            entry[f'{part}_error'] = fmean(per_draw)
            entry[f'{part}_spread'] = stdev(per_draw) if len(draws) > 1 else 0.
        entry['worst_layer_output_error'] = None if entry['output_error'] is None else max(
            fmean(row['output_error'] for row in group if row['layer'] == layer) for layer in layers)
        summary.append(entry)
    order = {name: i for i, name in enumerate(MECHANISMS + (BEST_RANK,))}
    return sorted(summary, key=lambda e: (order[e['mechanism']], e['budget']))


def _number(value: Optional[float], spread: Optional[float] = None) -> str:
    if value is None:
        return '-'
    return f'{value:.4f}' if not spread else f'{value:.4f} ± {spread:.4f}'


def format_table(summary: Sequence[Dict]) -> str:
    """ The summary as a Markdown table: mean relative errors, ± the spread over draws. """
    lines = ['| mechanism | budget | draws | output error | matrix error | worst layer, output |',
             '|---|---|---|---|---|---|']
    for e in summary:
        lines.append(
            f"| {e['mechanism']} | {e['budget']} | {e['draws']} | {_number(e['output_error'], e['output_spread'])} | "
            f"{_number(e['matrix_error'], e['matrix_spread'])} | {_number(e['worst_layer_output_error'])} |")
    return '\n'.join(lines)


def plot_errors(summary: Sequence[Dict], path: Union[str, Path], title: str) -> None:
    """ Relative error against budget, log-log, one line per mechanism (bars: the spread over draws); the output
    on the left, the matrix on the right with the best rank-k approximation as the floor. """
    fig = Figure(figsize=(11, 4.5))  # no pyplot: Figure.savefig renders with Agg, without a display
    axes = fig.subplots(1, 2)
    for ax, key, label in zip(axes, ('output_error', 'matrix_error'), ('output A v', 'attention matrix A')):
        for i, mechanism in enumerate(MECHANISMS + (BEST_RANK,)):
            points = [e for e in summary if e['mechanism'] == mechanism and e[key] is not None and e[key] > 0]
            if not points:
                continue
            # one colour per mechanism, whichever of them a run has
            style = dict(linestyle='--', color='0.4') if mechanism == BEST_RANK else dict(
                marker='o', capsize=3, color=f'C{i}')
            ax.errorbar([e['budget'] for e in points], [e[key] for e in points],
                        yerr=[e[key.replace('error', 'spread')] for e in points], label=mechanism, **style)
        ax.set_xscale('log')
        ax.set_yscale('log')
        budgets = sorted({e['budget'] for e in summary})
        ax.set_xticks(budgets, [str(b) for b in budgets], fontsize=7)
        ax.minorticks_off()
        ax.set_xlabel('budget: Linformer k, Performer m, Nyström m, rank k')
        ax.set_ylabel(f'relative error of the {label} (log)')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_results(out_dir: Union[str, Path], rows: Sequence[Dict], summary: Sequence[Dict], info: Dict) -> Path:
    """ approximation_points.csv (every point), approximation.csv (the summary), approximation.json (both, and
    `info`: model, inputs, options), approximation.md (the table) and approximation.png into out_dir. """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, fields, table in (('approximation_points.csv', POINT_FIELDS, rows),
                                ('approximation.csv', SUMMARY_FIELDS, summary)):
        with (out_dir / name).open('w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(table)
    (out_dir / 'approximation.json').write_text(
        json.dumps(dict(info, summary=list(summary), points=list(rows)), indent=1) + '\n')
    (out_dir / 'approximation.md').write_text(f"{info['inputs']}\n\n{format_table(summary)}\n")
    plot_errors(summary, out_dir / 'approximation.png', f"{info['model']}: {info['inputs']}")
    return out_dir


def load_model(
        model_name: Optional[str] = None,
        checkpoint: Optional[Union[str, Path]] = None,
        data_set: str = 'fashion_mnist',
) -> nn.Module:
    """ The model in eval mode: from a weights folder (`local-dir:`, as `attnzoo study` and timm's `save_for_hf`
    write it; it names its architecture), from a train.py or study `.pth.tar` checkpoint of `model_name` sized for
    `data_set`, or `model_name` sized for `data_set` and randomly initialised (seeded by the caller). `model_name`
    defaults to vit_cifar, or to the weights folder's architecture. """
    if checkpoint is not None and Path(checkpoint).is_dir():
        return create_model_from_checkpoint(model_name, str(checkpoint)).eval()
    model_name = model_name or DEFAULT_MODEL
    spec = DATA_SETS[data_set]
    model_args = dict(size_kwargs(model_name, data_set), in_chans=spec.input_size[0], num_classes=spec.num_classes)
    return create_model_from_checkpoint(
        model_name, None if checkpoint is None else str(checkpoint), **model_args).eval()


def load_images(data_dir: Union[str, Path], data_set: str = 'fashion_mnist', num_images: int = 64) -> torch.Tensor:
    """ The first `num_images` images of the data set's validation split through timm's eval transform with its
    mean and std: (B, C, H, W). """
    spec = DATA_SETS[data_set]
    dataset = test_dataset(data_set, data_dir)
    dataset.transform = create_transform(spec.input_size, mean=spec.mean, std=spec.std, crop_pct=1.0)
    return torch.stack([dataset[i][0] for i in range(min(num_images, len(dataset)))])


def check_data_set(data_set: str) -> str:
    if data_set not in DATA_SETS:
        raise ValueError(f'data_set={data_set!r} is not one of {sorted(DATA_SETS)}.')
    return data_set


def run_approximation(
        output: Union[str, Path],
        model_name: Optional[str] = None,
        checkpoint: Optional[Union[str, Path]] = None,
        data_dir: Union[str, Path] = 'data',
        data_set: str = 'fashion_mnist',
        num_images: int = 64,
        budgets: Optional[Dict[str, Sequence[int]]] = None,
        draws: int = 5,
        pinv_iterations: int = 6,
        seed: int = 0,
) -> Tuple[List[Dict], Dict]:
    """ Capture q, k, v (real images through the checkpoint, or random images through a random model), measure
    every mechanism and write the results into `output`; returns the summary and the run's description. """
    check_data_set(data_set)
    torch.manual_seed(seed)
    model = load_model(model_name, checkpoint, data_set)
    if checkpoint is None:
        images = torch.randn(num_images, *DATA_SETS[data_set].input_size)
        inputs = f'{num_images} random N(0, 1) images through the randomly initialised model (no checkpoint)'
    else:
        images = load_images(data_dir, data_set, num_images)
        inputs = f'{len(images)} {data_set} validation images through the checkpoint {checkpoint}'
    layers = capture_heads(model, images)
    rows = measure(layers, budgets, draws=draws, seed=seed, pinv_iterations=pinv_iterations)
    summary = summarize(rows)
    B, h, N, d = layers[0].q.shape
    info = dict(
        model=model.pretrained_cfg.get('architecture') or model_name,
        checkpoint=None if checkpoint is None else str(checkpoint),
        inputs=inputs, layers=[layer.name for layer in layers], batch=B, heads=h, tokens=N, head_dim=d,
        draws=draws, pinv_iterations=pinv_iterations, seed=seed)
    write_results(output, rows, summary, info)
    return summary, info
