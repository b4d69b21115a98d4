""" The zoo's attention layers against the public reference implementations and exact attention through SDPA, side
by side in one run: the median time of a training step (forward and backward, `timm_attnzoo.measure`) and its peak
memory, each case in fresh processes so that one case's memory does not count in another's (on CUDA, whose
allocator counts live tensors exactly, in this process after a discarded first case: see fresh_process).

On a CPU, peak memory is measured in a process of its own, with glibc's MALLOC_MMAP_THRESHOLD_ at 128 KiB: every tensor
of 128 KiB or more is then mapped and unmapped on its own, so the resident set follows the live tensors instead of
what the heap kept from earlier ones (with the default, repeated measurements of one case moved by 30 MiB). The
time is measured in another process, with the allocator's defaults.

    python benchmarks/attention_layers.py [--tokens 64 256 1024 4096 16384] [--mechanisms ...] [--device cpu]
        [--dtype float32|bfloat16] [--warmup 3] [--runs 10] [--threads T] [--output benchmarks/results/attention_layers]

Every layer has width 256 and 4 heads of 64 (the lambda layers: 4 heads of 16 keys, on an s x s feature map of
256 channels); the batch is 8 up to N = 1024 tokens, 2 at 4096 and 1 at 16384. The references, with the same
options as ours: performer-pytorch's `SelfAttention` (256 features; softmax kernel, or the generalized ReLU
kernel), nystrom-attention's `NystromAttention` (64 landmarks, 6 pinv iterations, residual conv 33), linformer's
`LinformerSelfAttention` (k = 64, separate E and F), for the lambda layer (r = 9) timm's `LambdaLayer` ('lambda')
and lambda-networks' `LambdaLayer` ('lambda_networks'), and for softmax attention a bare module of the same
width: a qkv projection, `F.scaled_dot_product_attention` and the output projection.
The reference packages are the `bench` extra (`pip install -e .[bench]`).

Prints the ratio table (ours / reference, and both / SDPA) and writes the points and the tables as CSV, JSON and
Markdown to --output.
"""
import argparse
import json
import math
from typing import Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from fresh_process import forwarded_arguments, run_in_fresh_process, run_in_this_process, write_points

WIDTH, HEADS = 256, 4
BATCH_SIZES = {64: 8, 256: 8, 1024: 8, 4096: 2, 16384: 1}
DEFAULT_TOKENS = tuple(BATCH_SIZES)
MECHANISMS = ('softmax', 'performer', 'performer_relu', 'nystrom', 'linformer', 'lambda', 'lambda_networks')
LAMBDA_MECHANISMS = ('lambda', 'lambda_networks')
EXACT_MEMORY_ENV = {'MALLOC_MMAP_THRESHOLD_': str(128 * 1024)}
IMPLEMENTATIONS = ('ours', 'reference', 'sdpa')


class BareSDPA(nn.Module):
    """ Exact attention as plainly as PyTorch gives it: a fused qkv projection, SDPA, the output projection. """

    def __init__(self, dim: int = WIDTH, num_heads: int = HEADS) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, N, C))


def _ours(mechanism: str, n: int) -> nn.Module:
    from timm_attnzoo.layers import LambdaLayer, LinformerAttention, NystromAttention, PerformerAttention
    from timm_attnzoo.layers import create_attention
    if mechanism == 'softmax':
        return create_attention('softmax', WIDTH, HEADS, (math.isqrt(n),) * 2, num_prefix_tokens=0)
    if mechanism in ('performer', 'performer_relu'):
        return PerformerAttention(WIDTH, HEADS, num_features=256, kernel='relu' if mechanism == 'performer_relu' else 'softmax')
    if mechanism == 'nystrom':
        return NystromAttention(WIDTH, HEADS, num_landmarks=64, pinv_iterations=6, residual_conv_kernel=33)
    if mechanism == 'linformer':
        return LinformerAttention(WIDTH, HEADS, seq_len=n, proj_dim=64)
    return LambdaLayer(WIDTH, num_heads=HEADS, dim_head=16, r=9)


def _reference(mechanism: str, n: int) -> nn.Module:
    if mechanism == 'softmax':
        return BareSDPA()
    if mechanism in ('performer', 'performer_relu'):
        from performer_pytorch import SelfAttention
        return SelfAttention(
            dim=WIDTH, heads=HEADS, dim_head=WIDTH // HEADS, nb_features=256, qkv_bias=True,
            generalized_attention=mechanism == 'performer_relu', kernel_fn=nn.ReLU())
    if mechanism == 'nystrom':
        from nystrom_attention import NystromAttention
        return NystromAttention(
            dim=WIDTH, dim_head=WIDTH // HEADS, heads=HEADS, num_landmarks=64, pinv_iterations=6, residual=True,
            residual_conv_kernel=33)
    if mechanism == 'linformer':
        from linformer import LinformerSelfAttention
        return LinformerSelfAttention(dim=WIDTH, seq_len=n, k=64, heads=HEADS, dim_head=WIDTH // HEADS, share_kv=False)
    if mechanism == 'lambda_networks':
        from lambda_networks import LambdaLayer
        return LambdaLayer(WIDTH, dim_out=WIDTH, dim_k=16, r=9, heads=HEADS, dim_u=1)
    from timm.layers.lambda_layer import LambdaLayer
    return LambdaLayer(WIDTH, num_heads=HEADS, dim_head=16, r=9)


BUILDERS: Dict[str, Callable[[str, int], nn.Module]] = dict(
    ours=_ours, reference=_reference, sdpa=lambda mechanism, n: BareSDPA())


def _input_size(mechanism: str, implementation: str, n: int) -> Tuple[int, ...]:
    side = math.isqrt(n)
    return (WIDTH, side, side) if mechanism in LAMBDA_MECHANISMS and implementation != 'sdpa' else (n, WIDTH)


class CastInput(nn.Module):
    """ The layer run in `dtype`: measure's float32 input cast on the way in. """

    def __init__(self, layer: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.layer = layer.to(dtype)
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x.to(self.dtype))


def run_case(
        mechanism: str, implementation: str, n: int, device: str, dtype: str, warmup: int, runs: int, measure: str,
) -> Dict:
    """ One point's memory (the first training step of this process) or time, measured in this process. """
    from timm_attnzoo.flops import count_flops
    from timm_attnzoo.measure import peak_training_memory_mib, training_step_timing
    torch.manual_seed(0)
    device = torch.device(device)
    layer = CastInput(BUILDERS[implementation](mechanism, n), getattr(torch, dtype)).to(device)
    input_size, batch_size = _input_size(mechanism, implementation, n), BATCH_SIZES.get(n, 1)
    point = dict(mechanism=mechanism, implementation=implementation, n=n, batch_size=batch_size, device=str(device),
                 dtype=dtype)
    if measure in ('memory', 'both'):
        point['memory_mib'] = peak_training_memory_mib(layer, input_size, batch_size, device)
    if measure == 'memory':
        return point
    timing = training_step_timing(layer, input_size, batch_size, device, warmup, runs)
    point = dict(point, time_ms=1000 * timing.median, time_spread_ms=1000 * timing.spread)
    if implementation != 'reference':  # the zoo's counter knows every op of ours and of SDPA, not of the packages
        point['forward_flops'] = count_flops(layer, input_size, batch_size)
    return point


def _measure(case: Sequence[str], args: argparse.Namespace) -> Dict:
    """ The case's memory and its time: on a CPU each in a fresh process (see the module docstring), on CUDA both in
    this process, memory first (see fresh_process). """
    failed = dict(mechanism=case[0], implementation=case[1], n=int(case[2]))
    if torch.device(args.device).type == 'cuda':
        return run_in_this_process(lambda: run_case(
            case[0], case[1], int(case[2]), args.device, args.dtype, args.warmup, args.runs, 'both'), failed)
    arguments = ['--case', *case] + forwarded_arguments(args, ('device', 'dtype', 'warmup', 'runs', 'threads'))
    memory = run_in_fresh_process(__file__, arguments + ['--measure', 'memory'], failed, env=EXACT_MEMORY_ENV)
    if 'error' in memory:
        return memory
    return dict(memory, **run_in_fresh_process(__file__, arguments + ['--measure', 'time'], failed))


def _ratio(points: Dict[Tuple[str, str, int], Dict], mechanism: str, n: int, numerator: str, denominator: str) -> str:
    a, b = points.get((mechanism, numerator, n)), points.get((mechanism, denominator, n))
    if not a or not b or 'error' in a or 'error' in b:
        return 'n/a'
    return f"{a['time_ms'] / b['time_ms']:.2f}x"


def ratio_tables(points: List[Dict], tokens: Sequence[int], mechanisms: Sequence[str]) -> str:
    """ Markdown tables: ours / reference; reference / SDPA and ours / SDPA; and peak memory. """
    by_key = {(p['mechanism'], p['implementation'], p['n']): p for p in points}
    header = '| | ' + ' | '.join(f'N={n} (batch {BATCH_SIZES.get(n, 1)})' for n in tokens) + ' |\n|---|' + '---|' * len(tokens)
    tables = []
    for title, rows in (
            ('Time of ours / the reference', [(m, 'ours', 'reference') for m in mechanisms]),
            ('Time / SDPA\'s', [(m, impl, 'sdpa') for m in mechanisms for impl in ('reference', 'ours')])):
        lines = [f'{title} (training step, median)', '', header]
        for mechanism, numerator, denominator in rows:
            label = mechanism if title.startswith('Time of') else f'{mechanism}, {numerator}'
            lines.append(f'| {label} | ' + ' | '.join(_ratio(by_key, mechanism, n, numerator, denominator) for n in tokens) + ' |')
        tables.append('\n'.join(lines))
    lines = ["Forward FLOPs of ours / SDPA's (`timm_attnzoo.flops`)", '', header]
    for mechanism in mechanisms:
        cells = []
        for n in tokens:
            ours, sdpa = by_key.get((mechanism, 'ours', n), {}), by_key.get((mechanism, 'sdpa', n), {})
            flops = ours.get('forward_flops'), sdpa.get('forward_flops')
            cells.append(f'{flops[0] / flops[1]:.2f}x' if all(flops) else 'n/a')
        lines.append(f'| {mechanism} | ' + ' | '.join(cells) + ' |')
    tables.append('\n'.join(lines))
    lines = ['Peak training step memory (MiB): ours / reference / SDPA', '', header]
    for mechanism in mechanisms:
        cells = []
        for n in tokens:
            values = [by_key.get((mechanism, impl, n), {}).get('memory_mib') for impl in IMPLEMENTATIONS]
            cells.append(' / '.join('n/a' if v is None or v != v else f'{v:.0f}' for v in values))
        lines.append(f'| {mechanism} | ' + ' | '.join(cells) + ' |')
    tables.append('\n'.join(lines))
    errors = [f"- {p['mechanism']} {p['implementation']} N={p['n']}: {p['error']}" for p in points if 'error' in p]
    return '\n\n'.join(tables + (['Cases that failed:\n' + '\n'.join(errors)] if errors else []))


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--tokens', nargs='+', type=int, default=DEFAULT_TOKENS)
    parser.add_argument('--mechanisms', nargs='+', default=MECHANISMS, choices=MECHANISMS)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16', 'float16'))
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--threads', type=int, help="torch's CPU threads (default: torch's own choice)")
    parser.add_argument('--output', default='benchmarks/results/attention_layers')
    parser.add_argument('--case', nargs=3, metavar=('MECHANISM', 'IMPLEMENTATION', 'N'), help=argparse.SUPPRESS)
    parser.add_argument('--measure', choices=('memory', 'time'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.case:
        print(json.dumps(run_case(args.case[0], args.case[1], int(args.case[2]), args.device, args.dtype,
                                  args.warmup, args.runs, args.measure)))
        return
    if torch.device(args.device).type == 'cuda':  # cuBLAS's workspace and the first kernel loads: not the first case's
        _measure(('softmax', 'sdpa', str(args.tokens[0])), args)
    points = []
    for n in args.tokens:
        for mechanism in args.mechanisms:
            for implementation in IMPLEMENTATIONS:
                if implementation == 'sdpa' and any(p.get('implementation') == 'sdpa' and p['n'] == n for p in points):
                    points.append(dict(next(p for p in points if p.get('implementation') == 'sdpa' and p['n'] == n),
                                       mechanism=mechanism))  # one SDPA case per N serves every row
                    continue
                point = _measure((mechanism, implementation, str(n)), args)
                points.append(point)
                print(f"{mechanism:>15} {implementation:>9} N={n:<6} "
                      f"{point.get('time_ms', float('nan')):9.2f} ms {point.get('memory_mib', float('nan')):8.1f} MiB "
                      f"{point.get('error', '')}", flush=True)
    tables = ratio_tables(points, args.tokens, args.mechanisms)
    print(f'\n{args.device}, {args.dtype}, width {WIDTH}, {HEADS} heads, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads\n\n{tables}')
    write_points(args.output, points, tables)


if __name__ == '__main__':
    main()
