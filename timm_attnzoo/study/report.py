""" A study's results: one table (results.csv, results.md) of every run's costs and accuracy, and plots as PNG:
top-1 against FLOPs, parameters, latency and training time, each with its Pareto front marked, the training
curves, and, where a model was trained at several input sizes or values of one numeric argument, its costs and
top-1 against the size or the argument. """
import csv
import json
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import matplotlib
import timm

from ..model_families import family_of
from ..model_table import attention_layers
from .run import run_input_size
from .spec import ModelRun

matplotlib.use('Agg')  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402

COLUMNS = (  # (key in a run's row, header, format)
    ('run', 'run', '{}'),
    ('model', 'model', '{}'),
    ('family', 'family', '{}'),
    ('attention', 'attention', '{}'),
    ('input_size', 'input', '{}'),
    ('params', 'params', '{:,}'),
    ('flops', 'MFLOPs', '{:.2f}'),
    ('latency_ms', 'latency (ms, batch 1)', '{:.2f}'),
    ('peak_train_memory_mib', 'train step memory (MiB)', '{:.0f}'),
    ('epoch_time_s', 'train time per epoch (s)', '{:.0f}'),
    ('train_time_s', 'train time (s)', '{:.0f}'),
    ('epochs', 'epochs', '{}'),
    ('top1', 'top-1 (%)', '{:.2f}'),
    ('top5', 'top-5 (%)', '{:.2f}'),
    ('best_top1', 'best top-1 (%)', '{:.2f}'),
)
SCATTER_PLOTS = (  # (file, row key, axis label, scale)
    ('top1_vs_flops.png', 'flops', 'MFLOPs per image', 1e-6),
    ('top1_vs_params.png', 'params', 'parameters (M)', 1e-6),
    ('top1_vs_latency.png', 'latency_ms', 'latency (ms, batch 1)', 1.),
    ('top1_vs_train_time.png', 'train_time_s', 'training time (s)', 1.),
)
RESOLUTION_PLOT = 'resolution_scaling.png'
ARGUMENT_PLOT = '{argument}_scaling.png'  # e.g. num_features_scaling.png
SCALING_PANELS = ('flops', 'latency_ms', 'peak_train_memory_mib', 'epoch_time_s', 'top1')  # table columns


def pareto_front(costs: Sequence[float], accuracies: Sequence[float]) -> List[int]:
    """ Indices of the points no other point beats: none costs at most as much with at least the accuracy, one of
    the two strictly. In order of cost. """
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -accuracies[i]))
    front, best = [], float('-inf')
    for i in order:
        if accuracies[i] > best:
            front.append(i)
            best = accuracies[i]
    return front


def result_rows(summaries: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """ Each run's summary with its family, its attention layers (`model_table.attention_layers`), its input size
    and its training time per epoch. """
    rows = []
    for s in summaries:
        run = ModelRun(s['run'], s['model'], s.get('kwargs', {}), s.get('img_size'))
        model = timm.create_model(run.model, **run.kwargs)
        input_size = run_input_size(s['data_set'], run)
        rows.append(dict(s, family=family_of(run.model), attention=attention_layers(model),
                         input_size='x'.join(map(str, input_size)), image_side=input_size[-1],
                         epoch_time_s=s['train_time_s'] / s['epochs']))
    return rows


def resolution_series(rows: Sequence[Dict[str, Any]]) -> Dict[str, List[Tuple[int, Dict[str, Any]]]]:
    """ The (input side, row) of each model (name and kwargs) run at two or more input sizes, in order of size, by
    its label. """
    series: Dict[str, List[Tuple[int, Dict[str, Any]]]] = {}
    for row in rows:
        kwargs = row.get('kwargs') or {}
        series.setdefault(row['model'] + (f' {kwargs}' if kwargs else ''), []).append((row['image_side'], row))
    return {label: sorted(points, key=lambda point: point[0]) for label, points in series.items()
            if len({side for side, _ in points}) > 1}


def _flat_kwargs(kwargs: Dict[str, Any], prefix: Tuple[str, ...] = ()) -> Dict[Tuple[str, ...], Any]:
    """ kwargs with their nested dicts opened: each value by its path of keys. """
    flat = {}
    for key, value in kwargs.items():
        if isinstance(value, dict):
            flat.update(_flat_kwargs(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = value
    return flat


def _shared_words(names: Sequence[str]) -> str:
    """ The words (split at `_`) all names have in the same place: intertwined_relu_m16, intertwined_relu_m64 give
    intertwined_relu. """
    return '_'.join(words[0] for words in zip(*[name.split('_') for name in names]) if len(set(words)) == 1)


def argument_series(rows: Sequence[Dict[str, Any]]) -> Dict[str, Dict[str, List[Tuple[float, Dict[str, Any]]]]]:
    """ For each numeric model argument (a kwargs value, maybe nested in dicts, named by its last key) a model is
    trained with at two or more values, all else equal (its other kwargs, its input size): the (value, row) of
    each such series in order of the value, by argument, then by the words the series' run names share (or by
    the names, where they share none or another series has those words). """
    groups: Dict[tuple, List[Tuple[float, Dict[str, Any]]]] = {}
    for row in rows:
        flat = _flat_kwargs(row.get('kwargs') or {})
        for path, value in flat.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                others = json.dumps({'.'.join(p): v for p, v in flat.items() if p != path}, sort_keys=True)
                groups.setdefault((path, row['model'], row['image_side'], others), []).append((value, row))
    series: Dict[str, Dict[str, List[Tuple[float, Dict[str, Any]]]]] = {}
    for (path, *_), points in groups.items():
        if len({value for value, _ in points}) > 1:
            points.sort(key=lambda point: point[0])
            names = [row['run'] for _, row in points]
            label, lines = _shared_words(names), series.setdefault(path[-1], {})
            lines[label if label and label not in lines else ' / '.join(names)] = points  # no two lines alike
    return series


def rows_without_argument(rows: Sequence[Dict[str, Any]], argument: str,
                          series: Dict[str, List[Tuple[float, Dict[str, Any]]]]) -> List[Dict[str, Any]]:
    """ The runs of a series' model and input size that do not take the argument: the reference its plot draws. """
    models = {(row['model'], row['image_side']) for points in series.values() for _, row in points}
    return [row for row in rows if (row['model'], row['image_side']) in models
            and argument not in {path[-1] for path in _flat_kwargs(row.get('kwargs') or {})}]


def _value(row: Dict[str, Any], key: str) -> Any:
    """ A row's value as its table column shows it: FLOPs in millions. """
    return row[key] / 1e6 if key == 'flops' else row[key]


def pareto_fronts(rows: Sequence[Dict[str, Any]]) -> Dict[str, List[int]]:
    """ Each scatter plot's Pareto front of top-1 against its cost, by the plot's row key. """
    return {key: pareto_front([row[key] for row in rows], [row['top1'] for row in rows])
            for _, key, _, _ in SCATTER_PLOTS}


def write_table(out_dir: Path, rows: Sequence[Dict[str, Any]], fronts: Dict[str, List[int]]) -> None:
    headers = [header for _, header, _ in COLUMNS]
    with (out_dir / 'results.csv').open('w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow([key for key, _, _ in COLUMNS])
        writer.writerows([[row[key] for key, _, _ in COLUMNS] for row in rows])
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)]
    lines += ['| ' + ' | '.join(fmt.format(_value(row, key)) for key, _, fmt in COLUMNS) + ' |' for row in rows]
    lines.append('')
    for _, key, label, _ in SCATTER_PLOTS:
        lines.append(f"Pareto front of top-1 against {label}: {', '.join(rows[i]['run'] for i in fronts[key])}")
    (out_dir / 'results.md').write_text('\n'.join(lines) + '\n')


def _plain_log_labels(axis) -> None:
    """ A log axis labelled with plain numbers (6.9, not 6.9 x 10^0), its minor ticks too where it spans less than a
    decade. """
    axis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False))


def _scatter(path: Path, rows, front: List[int], key: str, label: str, scale: float) -> None:
    costs, top1 = [row[key] * scale for row in rows], [row['top1'] for row in rows]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(costs, top1, facecolors='none', edgecolors='tab:blue')
    ax.plot([costs[i] for i in front], [top1[i] for i in front], marker='o', color='tab:red', drawstyle='steps-post',
            label='Pareto front')
    for row, cost, accuracy in zip(rows, costs, top1):
        ax.annotate(row['run'], (cost, accuracy), fontsize=7, xytext=(3, 3), textcoords='offset points')
    ax.set_xscale('log')
    _plain_log_labels(ax.xaxis)
    ax.set_xlabel(label + ' (log)')
    ax.set_ylabel('validation top-1 (%)')
    ax.legend(fontsize=7, loc='best')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _curves(path: Path, summaries, metrics: Dict[str, List[Dict[str, float]]]) -> None:
    fig, (loss_ax, top1_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    for s in summaries:
        rows = metrics[s['run']]
        epochs = [row['epoch'] + 1 for row in rows]
        loss_ax.plot(epochs, [row['train_loss'] for row in rows], marker='o', label=s['run'])
        top1_ax.plot(epochs, [row['val_top1'] for row in rows], marker='o', label=s['run'])
    loss_ax.set(xlabel='epoch', ylabel='training loss')
    top1_ax.set(xlabel='epoch', ylabel='validation top-1 (%)')
    for ax in (loss_ax, top1_ax):
        ax.grid(alpha=0.3)
    top1_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _scaling_plot(path: Path, series: Dict[str, List[Tuple[float, Dict[str, Any]]]], x_label: str,
                  references: Sequence[Dict[str, Any]] = ()) -> None:
    """ Each series' costs and top-1 against its x on a log axis, one line per series, and each reference run as a
    dashed horizontal line. """
    fig, axes = plt.subplots(1, len(SCALING_PANELS), figsize=(4 * len(SCALING_PANELS), 4))
    xs = sorted({x for points in series.values() for x, _ in points})
    headers = {key: header for key, header, _ in COLUMNS}
    for ax, key in zip(axes, SCALING_PANELS):
        for name, points in series.items():
            ax.plot([x for x, _ in points], [_value(row, key) for _, row in points], marker='o', label=name)
        for i, row in enumerate(references):
            ax.axhline(_value(row, key), color=f'C{(len(series) + i) % 10}', linestyle='--', label=row['run'])
        ax.set_xscale('log', base=2)
        ax.set_xticks(xs, [f'{x:g}' for x in xs])
        ax.set_xlabel(x_label)
        if key == 'top1':
            ax.set_ylabel(headers[key])
        else:  # costs grow as a power of the side or the argument: straight lines on log axes
            ax.set_yscale('log')
            _plain_log_labels(ax.yaxis)
            ax.set_ylabel(headers[key] + ' (log)')
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(out_dir: Path, summaries: Sequence[Dict[str, Any]], metrics: Dict[str, List[Dict[str, float]]]) -> None:
    """ results.csv, results.md and the PNG plots in out_dir; `metrics` holds each run's metrics.csv rows. """
    rows = result_rows(summaries)
    fronts = pareto_fronts(rows)
    write_table(out_dir, rows, fronts)
    for name, key, label, scale in SCATTER_PLOTS:
        _scatter(out_dir / name, rows, fronts[key], key, label, scale)
    _curves(out_dir / 'training_curves.png', summaries, metrics)
    by_size = resolution_series(rows)
    if by_size:
        _scaling_plot(out_dir / RESOLUTION_PLOT, by_size, 'input side (px)')
    for argument, series in argument_series(rows).items():
        _scaling_plot(out_dir / ARGUMENT_PLOT.format(argument=argument), series, argument,
                      rows_without_argument(rows, argument, series))
