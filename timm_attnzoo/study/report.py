""" A study's results: one table (results.csv, results.md) of every run's costs and accuracy, and plots as PNG:
top-1 against FLOPs, against parameters and against training time, and the training curves. """
import csv
from pathlib import Path
from typing import Any, Dict, List, Sequence

import matplotlib

matplotlib.use('Agg')  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = (  # (key in a run's summary, header, format)
    ('run', 'run', '{}'),
    ('model', 'model', '{}'),
    ('params', 'params', '{:,}'),
    ('flops', 'MFLOPs', '{:.2f}'),
    ('latency_ms', 'latency (ms, batch 1)', '{:.2f}'),
    ('peak_train_memory_mib', 'train step memory (MiB)', '{:.0f}'),
    ('train_time_s', 'train time (s)', '{:.0f}'),
    ('epochs', 'epochs', '{}'),
    ('top1', 'top-1 (%)', '{:.2f}'),
    ('top5', 'top-5 (%)', '{:.2f}'),
    ('best_top1', 'best top-1 (%)', '{:.2f}'),
)
SCATTER_PLOTS = (  # (file, summary key, axis label, scale)
    ('top1_vs_flops.png', 'flops', 'MFLOPs per image', 1e-6),
    ('top1_vs_params.png', 'params', 'parameters (M)', 1e-6),
    ('top1_vs_train_time.png', 'train_time_s', 'training time (s)', 1.),
)


def _cell(summary: Dict[str, Any], key: str, fmt: str) -> str:
    value = summary[key] / 1e6 if key == 'flops' else summary[key]
    return fmt.format(value)


def write_table(out_dir: Path, summaries: Sequence[Dict[str, Any]]) -> None:
    rows = [[_cell(s, key, fmt) for key, _, fmt in COLUMNS] for s in summaries]
    headers = [header for _, header, _ in COLUMNS]
    with (out_dir / 'results.csv').open('w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow([key for key, _, _ in COLUMNS])
        writer.writerows([[s[key] for key, _, _ in COLUMNS] for s in summaries])
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    (out_dir / 'results.md').write_text('\n'.join(lines) + '\n')


def _scatter(path: Path, summaries, key: str, label: str, scale: float) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for s in summaries:
        ax.scatter(s[key] * scale, s['top1'])
        ax.annotate(s['run'], (s[key] * scale, s['top1']), fontsize=7, xytext=(3, 3), textcoords='offset points')
    ax.set_xscale('log')
    ax.set_xlabel(label + ' (log)')
    ax.set_ylabel('validation top-1 (%)')
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


def write_report(out_dir: Path, summaries: Sequence[Dict[str, Any]], metrics: Dict[str, List[Dict[str, float]]]) -> None:
    """ results.csv, results.md and the PNG plots in out_dir; `metrics` holds each run's metrics.csv rows. """
    write_table(out_dir, summaries)
    for name, key, label, scale in SCATTER_PLOTS:
        _scatter(out_dir / name, summaries, key, label, scale)
    _curves(out_dir / 'training_curves.png', summaries, metrics)
