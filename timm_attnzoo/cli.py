""" `attnzoo`: the package's single command-line entry point.

    attnzoo models [--format table|csv|json] [--output FILE] [MODEL ...]
    attnzoo prepare-data [fashion_mnist|stl10|tiny_imagenet|imagenet100] [--root DIR] [--source PATH]
                         [--classes FILE]
    attnzoo write-configs [--output DIR]
    attnzoo check-config FILE [FILE ...]
    attnzoo study [STUDY.yaml | --preset NAME] [--models MODEL ...] [--data-dir DIR] [--output DIR] [--device DEV]
    attnzoo attention-map (--image FILE | --sample INDEX) [--model M] [--checkpoint CKPT] [--layer L]
                          [--query ROW COL] [--rollout] [--output PNG]
    attnzoo profile [MODEL ...] [--img-size S] [--in-chans C] [--batch-size B] [--device DEV] [--warmup W] [--runs R]
                    [--threads T] [--format table|csv|json] [--output FILE]
    attnzoo scaling [--layers [MECHANISM ...]] [--models [MODEL ...]] [--tokens N ...] [--img-sizes S ...] [--width D]
                    [--heads H] [--batch-size B] [--device DEV] [--warmup W] [--runs R] [--threads T] [--output DIR]
    attnzoo push --model M --checkpoint CKPT --repo-id ORG/NAME [--local-dir DIR] [--data-set D] [--no-ema]
                 [--private] [--exist-ok]
    attnzoo cards [--study DIR ...] [--output DIR]
    attnzoo approx [--checkpoint WEIGHTS|CKPT] [--model M] [--data-dir DIR] [--dataset D] [--mechanisms M ...]
                   [--linformer-dims K ...] [--performer-features M ...] [--nystrom-landmarks M ...] [--draws R]
                   [--num-images B] [--pinv-iterations I] [--seed S] [--threads T] [--output DIR]
"""
import argparse
from pathlib import Path
from typing import Optional, Sequence

import torch

from .approximation import DEFAULT_BUDGETS, MECHANISMS, format_table, run_approximation
from .attention_maps import LAMBDA_PARTS, attention_maps, image_data_config, load_image, write_attention_map
from .checkpoints import create_model_from_checkpoint
from .config_check import check_train_config
from .data import (
    DEBIAN_FASHION_MNIST_DIR, prepare_fashion_mnist, prepare_imagenet100, prepare_stl10, prepare_tiny_imagenet,
)
from .dataset_specs import DATA_SETS, test_image
from .hub import PushError, push
from .model_cards import write_family_cards
from .model_table import format_rows, model_rows
from .profile import format_profile, profile_models
from .registry import list_models
from .scaling import DEFAULT_IMG_SIZES, DEFAULT_TOKENS, LAYER_MECHANISMS, SCALING_MODELS, run_scaling
from .study import load_study, preset_names, run_study
from .train_configs import write_train_configs


def _models(args: argparse.Namespace) -> None:
    text = format_rows(model_rows(args.model), args.format)
    print(text)
    if args.output:
        Path(args.output).write_text(text + '\n')


def _prepare_data(args: argparse.Namespace) -> None:
    if args.dataset == 'fashion_mnist':
        root = prepare_fashion_mnist(args.root, args.source or DEBIAN_FASHION_MNIST_DIR)
        print(f'Fashion-MNIST ready for timm: --data-dir {root} --dataset torch/fashion_mnist')
        return
    if not args.source:
        raise SystemExit(f'attnzoo prepare-data {args.dataset} needs --source, the official archive (docs/data.md).')
    if args.dataset == 'imagenet100':
        if not args.classes:
            raise SystemExit('attnzoo prepare-data imagenet100 needs --classes, a file of 100 wnids (docs/data.md).')
        folder = prepare_imagenet100(args.root, args.source, args.classes)
    else:
        prepare = prepare_stl10 if args.dataset == 'stl10' else prepare_tiny_imagenet
        folder = prepare(args.root, args.source)
    print(f'{args.dataset} ready for timm\'s folder reader: --data-dir {folder} (train/ and val/)')


def _write_configs(args: argparse.Namespace) -> None:
    paths = write_train_configs(args.output)
    print(f'{len(paths)} configurations for train.py in {args.output}')


def _check_config(args: argparse.Namespace) -> None:
    failed = []
    for path in args.configs:
        try:
            check_train_config(path)
            print(f'{path}: ok')
        except ValueError as e:
            failed.append(str(e))
    if failed:
        raise SystemExit('\n'.join(failed))


def _study(args: argparse.Namespace) -> None:
    study = load_study(args.study or args.preset, models=args.models)
    out_dir = run_study(study, args.data_dir, args.output, device=args.device)
    print(f'{study.name}: {len(study.models)} runs; table in {out_dir / "results.md"}, plots in {out_dir}')


def _attention_map(args: argparse.Namespace) -> None:
    model_args = dict(in_chans=args.in_chans, num_classes=args.num_classes, img_size=args.img_size)
    model = create_model_from_checkpoint(
        args.model, args.checkpoint, **{key: value for key, value in model_args.items() if value is not None})
    data_config = image_data_config(model, args.img_size)
    if (args.image is None) == (args.sample is None):
        raise SystemExit('attnzoo attention-map needs one of --image FILE or --sample INDEX (of --dataset in --data-dir).')
    x = load_image(args.image or test_image(args.dataset, args.data_dir, args.sample), data_config)
    if args.list_layers:
        for attention_map in attention_maps(model, x, args.lambda_part):
            print(f'{attention_map.name}  {tuple(attention_map.matrix.shape[1:])}')
        return
    chosen = write_attention_map(
        model, x, Path(args.output), layer=args.layer, query=args.query, rollout=args.rollout,
        lambda_part=args.lambda_part, data_config=data_config)
    print(f'{chosen.name}: {chosen.matrix.shape[1]} heads over a {chosen.key_grid[0]}x{chosen.key_grid[1]} grid; '
          f'written to {args.output}')


def _set_threads(threads: Optional[int]) -> None:
    if threads:
        torch.set_num_threads(threads)


def _profile(args: argparse.Namespace) -> None:
    _set_threads(args.threads)
    rows = profile_models(
        args.model or list_models(), img_size=args.img_size, in_chans=args.in_chans, batch_size=args.batch_size,
        device=args.device, warmup=args.warmup, runs=args.runs)
    text = format_profile(rows, args.format)
    print(text)
    if args.output:
        Path(args.output).write_text(text + '\n')


def _scaling(args: argparse.Namespace) -> None:
    _set_threads(args.threads)
    both = args.layers is None and args.models is None
    mechanisms = (args.layers or LAYER_MECHANISMS) if both or args.layers is not None else None
    models = (args.models or SCALING_MODELS) if both or args.models is not None else None
    tables = run_scaling(
        args.output, mechanisms, models, tokens=args.tokens, img_sizes=args.img_sizes, width=args.width,
        num_heads=args.heads, batch_size=args.batch_size, device=args.device, warmup=args.warmup, runs=args.runs)
    for sweep, table in tables.items():
        print(f'{sweep} (points in {Path(args.output) / sweep}.csv, .json; plot {Path(args.output) / sweep}.png)')
        print(table)


def _approx(args: argparse.Namespace) -> None:
    _set_threads(args.threads)
    budgets = dict(linformer=args.linformer_dims, performer=args.performer_features,
                   performer_relu=args.performer_features, nystrom=args.nystrom_landmarks)
    summary, info = run_approximation(
        args.output, model_name=args.model, checkpoint=args.checkpoint, data_dir=args.data_dir, data_set=args.dataset,
        num_images=args.num_images, budgets={m: budgets[m] for m in args.mechanisms}, draws=args.draws,
        pinv_iterations=args.pinv_iterations, seed=args.seed)
    print(f"{info['model']}, {len(info['layers'])} softmax layers, {info['heads']} heads x {info['tokens']} tokens x "
          f"{info['head_dim']}: {info['inputs']}")
    print('relative error against exact softmax attention, mean over layers (± the spread over draws):')
    print(format_table(summary))
    out_dir = Path(args.output)
    print(f'every point in {out_dir / "approximation_points.csv"} and .json; plot {out_dir / "approximation.png"}')


def _push(args: argparse.Namespace) -> None:
    try:
        where = push(args.model, args.checkpoint, args.repo_id, local_dir=args.local_dir, data_set=args.data_set,
                     use_ema=not args.no_ema, private=args.private, exist_ok=args.exist_ok)
    except (PushError, FileNotFoundError, ValueError) as error:
        raise SystemExit(f'attnzoo push: {error}') from error
    if args.local_dir:
        print(f'{args.repo_id} written to {where}: load it with timm.create_model("local-dir:{where}", pretrained=True) '
              f'after `import timm_attnzoo`, or upload the folder to the Hub as it is.')
    else:
        print(f'{args.repo_id} published: {where}')


def _cards(args: argparse.Namespace) -> None:
    paths = write_family_cards(args.output, args.study)
    print(f'{len(paths)} family cards in {args.output}: {", ".join(path.name for path in paths)}')


def _add_timing_arguments(parser: argparse.ArgumentParser, warmup: int, runs: int) -> None:
    parser.add_argument('--device', default='cpu', help='torch device, e.g. cuda')
    parser.add_argument('--warmup', type=int, default=warmup, help='untimed calls before the timed ones (default: %(default)s)')
    parser.add_argument('--runs', type=int, default=runs, help='timed calls; their median is reported (default: %(default)s)')
    parser.add_argument('--threads', type=int, help="torch's CPU threads (default: torch's own choice)")


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog='attnzoo', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)

    models = commands.add_parser('models', help='list every registered model with its parameters and FLOPs')
    models.add_argument('model', nargs='*', help='model names (default: every model of the package)')
    models.add_argument('--format', choices=('table', 'csv', 'json'), default='table')
    models.add_argument('--output', help='also write the listing to this file')
    models.set_defaults(run=_models)

    data = commands.add_parser('prepare-data', help="lay a data set out where timm's dataset factory reads it")
    data.add_argument(
        'dataset', nargs='?', default='fashion_mnist',
        choices=('fashion_mnist', 'stl10', 'tiny_imagenet', 'imagenet100'))
    data.add_argument('--root', default='data', help='folder to write the data set into')
    data.add_argument(
        '--source', help=f'Fashion-MNIST: folder of .gz IDX files (default {DEBIAN_FASHION_MNIST_DIR}); '
                         'STL-10: stl10_binary.tar.gz; Tiny ImageNet: tiny-imagenet-200.zip; ImageNet-100: the folder '
                         'of ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz')
    data.add_argument('--classes', help='ImageNet-100: the file of its 100 wnids, one per line')
    data.set_defaults(run=_prepare_data)

    configs = commands.add_parser(
        'write-configs', help="write the train.py configurations: the seeds' experiments, Fashion-MNIST for every model")
    configs.add_argument('--output', default='train_configs', help='folder to write the configurations into')
    configs.set_defaults(run=_write_configs)

    check = commands.add_parser(
        'check-config', help="check train.py configurations: every key an argument of train.py with a value of its "
                             "type, the model registered")
    check.add_argument('configs', nargs='+', metavar='FILE', help='train.py YAML configuration')
    check.set_defaults(run=_check_config)

    study = commands.add_parser(
        'study', help='train and measure a list of models on one data set with one recipe; table and plots')
    study.add_argument('study', nargs='?', help='study YAML (docs/study.md); default: the preset')
    study.add_argument('--preset', default='default', choices=preset_names(),
                       help='default: one small model per family on Fashion-MNIST, minutes on a CPU; '
                            'full: every model with the Fashion-MNIST recipe of train_configs/')
    study.add_argument('--models', nargs='+', default=(), help='train these models instead of the study\'s list')
    study.add_argument('--data-dir', default='data', help='the --root of `attnzoo prepare-data`')
    study.add_argument('--output', default='studies', help='runs go to OUTPUT/<study name>/<run>/')
    study.add_argument('--device', default='cpu', help='torch device, e.g. cuda')
    study.set_defaults(run=_study)

    maps = commands.add_parser(
        'attention-map', help="draw what one layer (and the rollout) attends to on an image, for any mechanism")
    maps.add_argument('--model', help='model name; optional when --checkpoint is a weights folder')
    maps.add_argument('--image', help='image file; resized and normalized as the model expects')
    maps.add_argument('--sample', type=int, help='or: this image of the test split of --dataset')
    maps.add_argument('--dataset', default='fashion_mnist', choices=sorted(DATA_SETS), help='data set of --sample')
    maps.add_argument('--data-dir', default='data', help='the --root of `attnzoo prepare-data`, for --sample')
    maps.add_argument('--checkpoint', help='weights folder (config.json + model.safetensors) or checkpoint file; '
                                           'none: random weights')
    maps.add_argument('--layer', default='-1', help='layer name or index in call order (default: the last)')
    maps.add_argument('--query', nargs=2, type=int, metavar=('ROW', 'COL'),
                      help='query token on the grid (default: the class token, else the centre)')
    maps.add_argument('--rollout', action='store_true', help='add the attention rollout through all layers (ViT, TNT)')
    maps.add_argument('--lambda-part', default='position', choices=LAMBDA_PARTS,
                      help="lambda layers: the position lambdas' weights, the content term, or both")
    maps.add_argument('--list-layers', action='store_true', help='print the layers with a map and stop')
    maps.add_argument('--in-chans', type=int, help='with a checkpoint file: the channels it was trained on')
    maps.add_argument('--num-classes', type=int, help='with a checkpoint file: the classes it was trained on')
    maps.add_argument('--img-size', type=int, help='with a checkpoint file: the image size it was trained on')
    maps.add_argument('--output', default='attention_map.png', help='PNG to write')
    maps.set_defaults(run=_attention_map)

    profile = commands.add_parser(
        'profile', help='parameters, FLOPs, latency, throughput, training step time and peak memory of models')
    profile.add_argument('model', nargs='*', help='model names (default: every model of the package)')
    profile.add_argument('--img-size', type=int, help='square input size S (default: each model\'s own, 32); '
                                                      'fixed-size models are built for it')
    profile.add_argument('--in-chans', type=int, default=3, help='input channels')
    profile.add_argument('--batch-size', type=int, default=32, help='batch of the timed forwards and training steps')
    _add_timing_arguments(profile, warmup=3, runs=10)
    profile.add_argument('--format', choices=('table', 'csv', 'json'), default='table')
    profile.add_argument('--output', help='also write the table, CSV or JSON to this file')
    profile.set_defaults(run=_profile)

    scaling = commands.add_parser(
        'scaling', help='time, memory and FLOPs against the token count for every attention and model family')
    scaling.add_argument('--layers', nargs='*', metavar='MECHANISM',
                         help=f'sweep these attention layers over --tokens (none named: all of {", ".join(LAYER_MECHANISMS)})')
    scaling.add_argument('--models', nargs='*', metavar='MODEL',
                         help=f'sweep these models over --img-sizes (none named: {", ".join(SCALING_MODELS)}); '
                              'neither --layers nor --models: both sweeps')
    scaling.add_argument('--tokens', nargs='+', type=int, default=DEFAULT_TOKENS,
                         help='token counts N of the layer sweep, squares (default: %(default)s)')
    scaling.add_argument('--img-sizes', nargs='+', type=int, default=DEFAULT_IMG_SIZES,
                         help='image sizes of the model sweep (default: %(default)s)')
    scaling.add_argument('--width', type=int, default=256, help='channels of every layer (default: %(default)s)')
    scaling.add_argument('--heads', type=int, default=4, help='heads of every layer (default: %(default)s)')
    scaling.add_argument('--batch-size', type=int, default=2, help='batch of the training steps (default: %(default)s)')
    _add_timing_arguments(scaling, warmup=1, runs=5)
    scaling.add_argument('--output', default='scaling', help='folder for the CSV, JSON, table and PNG of each sweep')
    scaling.set_defaults(run=_scaling)

    push_cmd = commands.add_parser(
        'push', help="publish a train.py or study checkpoint on the Hugging Face Hub with its model card")
    push_cmd.add_argument('--model', help='the architecture it was trained as (optional for a weights folder)')
    push_cmd.add_argument('--checkpoint', required=True,
                          help="train.py's .pth.tar, a study run's weights/ folder or last.pth.tar")
    push_cmd.add_argument('--repo-id', required=True, help='the Hub repository, ORGANISATION/NAME')
    push_cmd.add_argument('--local-dir', help='write the folder the Hub would get here instead of uploading')
    push_cmd.add_argument('--data-set', choices=sorted(DATA_SETS),
                          help='the data set it was trained on, when the checkpoint does not record it')
    push_cmd.add_argument('--no-ema', action='store_true', help="publish the model's weights, not the EMA's")
    push_cmd.add_argument('--private', action='store_true', help='create the repository private')
    push_cmd.add_argument('--exist-ok', action='store_true',
                          help='add a commit to an existing repository instead of stopping')
    push_cmd.set_defaults(run=_push)

    cards = commands.add_parser(
        'cards', help="write a Hugging Face Hub model card per model family, with studies' results")
    cards.add_argument('--study', nargs='+', default=(),
                       help="finished studies' folders (results.csv, study.yaml), copied to OUTPUT/results/ in place "
                            'of the copies there; default: the copies already there')
    cards.add_argument('--output', default='hub_cards', help='folder for the cards (default: %(default)s)')
    cards.set_defaults(run=_cards)

    approx = commands.add_parser(
        'approx', help="each efficient attention's relative error against exact softmax attention as its budget grows, "
                       "on the q, k, v of a softmax model")
    approx.add_argument('--checkpoint', help='weights folder (attnzoo study\'s <run>/weights) or train.py/study '
                                             '.pth.tar; none: random images through a randomly initialised model')
    approx.add_argument('--model', help='softmax model (default: vit_cifar, or the weights folder\'s architecture)')
    approx.add_argument('--data-dir', default='data', help='the --root of `attnzoo prepare-data`')
    approx.add_argument('--dataset', default='fashion_mnist', choices=sorted(DATA_SETS),
                        help='the images, and the size the model is built for (default: %(default)s)')
    approx.add_argument('--mechanisms', nargs='+', default=MECHANISMS, choices=MECHANISMS, metavar='MECHANISM',
                        help=f'default: all of {", ".join(MECHANISMS)}')
    approx.add_argument('--linformer-dims', nargs='+', type=int, default=DEFAULT_BUDGETS['linformer'],
                        help='projected lengths k, and N (default: %(default)s)')
    approx.add_argument('--performer-features', nargs='+', type=int, default=DEFAULT_BUDGETS['performer'],
                        help='random features m, both kernels (default: %(default)s)')
    approx.add_argument('--nystrom-landmarks', nargs='+', type=int, default=DEFAULT_BUDGETS['nystrom'],
                        help='landmarks m, and N (default: %(default)s)')
    approx.add_argument('--draws', type=int, default=5, help='draws of the random projections and features')
    approx.add_argument('--num-images', type=int, default=64, help='images in the batch (default: %(default)s)')
    approx.add_argument('--pinv-iterations', type=int, default=6, help="Nyström's pseudo-inverse iterations")
    approx.add_argument('--seed', type=int, default=0, help='seed of the draws, the random model and its inputs')
    approx.add_argument('--threads', type=int, help="torch's CPU threads (default: torch's own choice)")
    approx.add_argument('--output', default='approximation', help='folder for the CSV, JSON, table and PNG')
    approx.set_defaults(run=_approx)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == '__main__':
    main()
