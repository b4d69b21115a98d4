""" Whole models: `vit_cifar` against timm's own `VisionTransformer` of the same dimensions (the softmax ViT the zoo's
efficient-attention ViTs are built on), and the training throughput of every registered model at its default
size, each model in a fresh process.

    python benchmarks/models.py [--models M ...] [--batch-size 64] [--device cpu] [--warmup 3] [--runs 10]
        [--threads T] [--output benchmarks/results/models]

Throughput is images per second: the batch over the median time of an inference forward (eval mode, under
`torch.inference_mode`) or of a training step (forward and backward, `timm_attnzoo.measure`). Prints a table and
writes it as Markdown and the points as CSV and JSON to --output.
"""
import argparse
import json
from typing import Dict, Sequence

import torch

from fresh_process import run_in_fresh_process, write_points

TIMM_VIT = 'timm:vit_cifar'  # timm's VisionTransformer with vit_cifar's dimensions
TIMM_VIT_ARGS = dict(img_size=32, patch_size=4, embed_dim=48, depth=4, num_heads=4, mlp_ratio=4., num_classes=10)


def _create(name: str) -> torch.nn.Module:
    import timm
    import timm_attnzoo  # noqa: F401 (registers the zoo)
    if name == TIMM_VIT:
        from timm.models.vision_transformer import VisionTransformer
        return VisionTransformer(**TIMM_VIT_ARGS)
    return timm.create_model(name)


def run_case(name: str, batch_size: int, device: str, warmup: int, runs: int) -> Dict:
    """ One model's throughputs, measured in this process. """
    from timm_attnzoo.measure import forward_timing, training_step_timing
    torch.manual_seed(0)
    device = torch.device(device)
    model = _create(name).to(device)
    input_size = (3, 32, 32) if name == TIMM_VIT else model.pretrained_cfg['input_size']
    forward = forward_timing(model, input_size, batch_size, device, warmup, runs)
    step = training_step_timing(model, input_size, batch_size, device, warmup, runs)
    return dict(model=name, input_size='x'.join(map(str, input_size)), batch_size=batch_size,
                params=sum(p.numel() for p in model.parameters()),
                forward_images_per_s=batch_size / forward.median, train_images_per_s=batch_size / step.median)


def _fresh_process(name: str, args: argparse.Namespace) -> Dict:
    arguments = ['--case', name, '--batch-size', str(args.batch_size), '--device', args.device,
                 '--warmup', str(args.warmup), '--runs', str(args.runs)] + (['--threads', str(args.threads)] if args.threads else [])
    return run_in_fresh_process(__file__, arguments, dict(model=name))


def format_table(points: Sequence[Dict]) -> str:
    lines = ['| model | input | params | forward (images/s) | training step (images/s) |', '|---|---|---|---|---|']
    for p in points:
        if 'error' in p:
            lines.append(f"| {p['model']} | failed: {p['error']} | | | |")
            continue
        lines.append(f"| {p['model']} | {p['input_size']} | {p['params']:,} | {p['forward_images_per_s']:,.0f} | "
                     f"{p['train_images_per_s']:,.0f} |")
    by_name = {p['model']: p for p in points if 'error' not in p}
    if TIMM_VIT in by_name and 'vit_cifar' in by_name:
        ours, timm_vit = by_name['vit_cifar'], by_name[TIMM_VIT]
        lines += ['', f"vit_cifar / timm's VisionTransformer: forward "
                      f"{ours['forward_images_per_s'] / timm_vit['forward_images_per_s']:.3f}, training step "
                      f"{ours['train_images_per_s'] / timm_vit['train_images_per_s']:.3f} (throughput ratios)"]
    return '\n'.join(lines)


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', help="models (default: timm's ViT, then every registered model)")
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--threads', type=int, help="torch's CPU threads (default: torch's own choice)")
    parser.add_argument('--output', default='benchmarks/results/models')
    parser.add_argument('--case', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.case:
        print(json.dumps(run_case(args.case, args.batch_size, args.device, args.warmup, args.runs)))
        return
    if args.models:
        names = args.models
    else:
        import timm_attnzoo
        names = [TIMM_VIT, *timm_attnzoo.list_models()]
    points = []
    for name in names:
        points.append(_fresh_process(name, args))
        print(json.dumps(points[-1]), flush=True)
    table = format_table(points)
    print(f'\n{args.device}, batch {args.batch_size}, torch {torch.__version__}, {torch.get_num_threads()} threads\n\n{table}')
    write_points(args.output, points, table)

if __name__ == '__main__':
    main()
