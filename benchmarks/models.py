""" Whole models: `vit_cifar` against timm's own `VisionTransformer` of the same dimensions (the softmax ViT the zoo's
efficient-attention ViTs are built on), and the training throughput of every registered model at its default
size, each model in a fresh process.

    python benchmarks/models.py [--models M ...] [--batch-size 64] [--device cpu] [--warmup 3] [--runs 10]
        [--threads T] [--output benchmarks/results/models]

Throughput is images per second: the batch over the median time of an inference forward (eval mode, under
`torch.inference_mode`) or of a training step (forward and backward, `timm_attnzoo.measure`). Prints a table and
writes it as Markdown and the points as CSV and JSON to --output.

When the list holds both `vit_cifar` and timm's ViT, their ratio comes from a paired run in one more process:
--rounds rounds, each timing both models back to back, and the median of the rounds' ratios. Over a run of
every model this machine drifts by more than the 5% the comparison is about; within a round it does not.
"""
import argparse
import json
import statistics
from typing import Dict, List, Sequence

import torch

from fresh_process import forwarded_arguments, run_in_fresh_process, run_in_this_process, write_points

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


def paired_ratios(batch_size: int, device: str, warmup: int, runs: int, rounds: int) -> Dict:
    """ vit_cifar's throughput over timm's ViT's, forward and training step: medians and quartiles of `rounds`
    rounds, each timing both models, in this process. """
    from timm_attnzoo.measure import forward_timing, training_step_timing
    torch.manual_seed(0)
    device = torch.device(device)
    ours, theirs = _create('vit_cifar').to(device), _create(TIMM_VIT).to(device)
    ratios = {'forward': [], 'train': []}
    for _ in range(rounds):
        for kind, timing in (('forward', forward_timing), ('train', training_step_timing)):
            times = [timing(model, (3, 32, 32), batch_size, device, warmup, runs).median for model in (ours, theirs)]
            ratios[kind].append(times[1] / times[0])
    point = dict(model='vit_cifar / ' + TIMM_VIT, batch_size=batch_size, rounds=rounds)
    for kind, values in ratios.items():
        q1, median, q3 = statistics.quantiles(values, n=4, method='inclusive') if rounds > 1 else values * 3
        point.update({f'{kind}_ratio': median, f'{kind}_ratio_q1': q1, f'{kind}_ratio_q3': q3})
    return point


def _arguments(args: argparse.Namespace) -> List[str]:
    return forwarded_arguments(args, ('batch_size', 'device', 'warmup', 'runs', 'threads'))


def _measure(name: str, args: argparse.Namespace) -> Dict:
    """ The model's throughputs: in a fresh process, on CUDA in this one (see fresh_process). """
    if torch.device(args.device).type == 'cuda':
        return run_in_this_process(
            lambda: run_case(name, args.batch_size, args.device, args.warmup, args.runs), dict(model=name))
    return run_in_fresh_process(__file__, ['--case', name] + _arguments(args), dict(model=name))


def format_table(points: Sequence[Dict]) -> str:
    lines = ['| model | input | params | forward (images/s) | training step (images/s) |', '|---|---|---|---|---|']
    for p in points:
        if 'error' in p:
            lines.append(f"| {p['model']} | failed: {p['error']} | | | |")
            continue
        lines.append(f"| {p['model']} | {p['input_size']} | {p['params']:,} | {p['forward_images_per_s']:,.0f} | "
                     f"{p['train_images_per_s']:,.0f} |")
    return '\n'.join(lines)


def format_pair(pair: Dict) -> str:
    if 'error' in pair:
        return f"vit_cifar / timm's VisionTransformer: failed: {pair['error']}"
    cells = [f"{label} {pair[f'{kind}_ratio']:.3f} (quartiles {pair[f'{kind}_ratio_q1']:.3f}-{pair[f'{kind}_ratio_q3']:.3f})"
             for label, kind in (('forward', 'forward'), ('training step', 'train'))]
    return f"vit_cifar / timm's VisionTransformer, throughput, paired over {pair.get('rounds')} rounds: " + ', '.join(cells)


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', help="models (default: timm's ViT, then every registered model)")
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--threads', type=int, help="torch's CPU threads (default: torch's own choice)")
    parser.add_argument('--output', default='benchmarks/results/models')
    parser.add_argument('--rounds', type=int, default=10, help="rounds of the paired vit_cifar / timm's ViT run")
    parser.add_argument('--case', help=argparse.SUPPRESS)
    parser.add_argument('--pair', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.case:
        print(json.dumps(run_case(args.case, args.batch_size, args.device, args.warmup, args.runs)))
        return
    if args.pair:
        print(json.dumps(paired_ratios(args.batch_size, args.device, args.warmup, args.runs, args.rounds)))
        return
    if args.models:
        names = args.models
    else:
        import timm_attnzoo
        names = [TIMM_VIT, *timm_attnzoo.list_models()]
    points = []
    for name in names:
        points.append(_measure(name, args))
        print(json.dumps(points[-1]), flush=True)
    table = format_table(points)
    if TIMM_VIT in names and 'vit_cifar' in names:
        pair = run_in_fresh_process(__file__, _arguments(args) + ['--pair', '--rounds', str(args.rounds)],
                                    dict(model='vit_cifar / ' + TIMM_VIT))
        points.append(pair)
        table += '\n\n' + format_pair(pair)
    print(f'\n{args.device}, batch {args.batch_size}, torch {torch.__version__}, {torch.get_num_threads()} threads\n\n{table}')
    write_points(args.output, points, table)


if __name__ == '__main__':
    main()
