""" A trained Performer model's top-1 with other draws of its random features, the weights otherwise unchanged.

FAVOR+ ('Rethinking Attention with Performers', Choromanski et al. 2021, Sec. 3) estimates softmax attention with m
random features; training redraws them every `feature_redraw_interval` steps, and the weights keep the last draw.
Each row sets every Performer layer to the draw `offset` places from the one it was saved with
(`PerformerAttention.use_draw`: a layer's draws are a seeded sequence, so the draws the training passed through are
the negative offsets, those it never saw the positive ones) and scores the validation split:

    python benchmarks/performer_feature_draws.py --weights studies/fashion_mnist_full/vit_performer_cifar/weights \
        --data-dir data [--dataset torch/fashion_mnist] [--offsets -5 -4 -3 -2 -1 0 1 2 3 4] [--images N] \
        [--output benchmarks/results/performer_feature_draws]

Prints the table and writes it as CSV and Markdown to --output.
"""
import argparse
import csv
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import timm
import torch
from timm.data import create_dataset, create_transform, resolve_data_config

import timm_attnzoo  # noqa: F401, registers the models
from timm_attnzoo.layers.performer import PerformerAttention

DEFAULT_OFFSETS = (-5, -4, -3, -2, -1, 0, 1, 2, 3, 4)


def validation_batches(model: torch.nn.Module, dataset: str, data_dir: str, images: Optional[int]) -> List[tuple]:
    """ The validation split (its first `images` images) through the model's eval transform, in batches of 500. """
    data = create_dataset(dataset, root=data_dir, split='validation')
    data.transform = create_transform(**resolve_data_config(model=model))
    if images is not None:
        data = torch.utils.data.Subset(data, range(min(images, len(data))))
    return list(torch.utils.data.DataLoader(data, batch_size=500))


@torch.no_grad()
def top1(model: torch.nn.Module, batches: Sequence[tuple]) -> float:
    correct = sum((model(x).argmax(-1) == y).sum().item() for x, y in batches)
    return 100 * correct / sum(len(y) for _, y in batches)


def feature_draw_top1(model: torch.nn.Module, batches: Sequence[tuple], offsets: Sequence[int]) -> List[Dict]:
    """ A row per offset whose draws exist (a layer's first draw is 0); the model is left with its saved draws. """
    layers = [m for m in model.modules() if isinstance(m, PerformerAttention)]
    if not layers:
        raise ValueError(f'{type(model).__name__} has no Performer layer.')
    saved = [int(layer.num_redraws) for layer in layers]
    rows = []
    for offset in offsets:
        if min(saved) + offset < 0:
            continue
        for layer, draw in zip(layers, saved):
            layer.use_draw(draw + offset)
        rows.append(dict(offset=offset, draw=saved[0] + offset, top1=top1(model, batches)))
    for layer, draw in zip(layers, saved):
        layer.use_draw(draw)
    return rows


def markdown(rows: Sequence[Dict], title: str) -> str:
    lines = [title, '', '| offset | draw | top-1 (%) |', '|---|---|---|']
    lines += [f"| {r['offset']:+d}{' (saved)' if r['offset'] == 0 else ''} | {r['draw']} | {r['top1']:.2f} |"
              for r in rows]
    return '\n'.join(lines) + '\n'


def main(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--weights', required=True, help='a weights folder (config.json + model.safetensors)')
    parser.add_argument('--data-dir', required=True)
    parser.add_argument('--dataset', default='torch/fashion_mnist')
    parser.add_argument('--offsets', type=int, nargs='+', default=DEFAULT_OFFSETS)
    parser.add_argument('--images', type=int, default=None, help='the first N validation images (default: all)')
    parser.add_argument('--output', default='benchmarks/results/performer_feature_draws')
    args = parser.parse_args(argv)

    model = timm.create_model(f'local-dir:{args.weights}', pretrained=True).eval()
    batches = validation_batches(model, args.dataset, args.data_dir, args.images)
    rows = feature_draw_top1(model, batches, args.offsets)
    title = (f"{model.pretrained_cfg['architecture']} from {args.weights}: top-1 on {sum(len(y) for _, y in batches)} "
             f"images of {args.dataset} with each draw of the Performer features")
    table = markdown(rows, title)
    print(table)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    with (out / 'feature_draws.csv').open('w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=['offset', 'draw', 'top1'])
        writer.writeheader()
        writer.writerows(dict(r, top1=f"{r['top1']:.2f}") for r in rows)
    (out / 'feature_draws.md').write_text(table)
    return rows


if __name__ == '__main__':
    main()
