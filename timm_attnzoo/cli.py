""" `attnzoo`: the package's single command-line entry point.

    attnzoo models [--format table|csv|json] [--output FILE] [MODEL ...]
    attnzoo prepare-data [fashion_mnist|stl10|tiny_imagenet|imagenet100] [--root DIR] [--source PATH]
                         [--classes FILE]
    attnzoo write-configs [--output DIR]
    attnzoo study [STUDY.yaml | --preset NAME] [--models MODEL ...] [--data-dir DIR] [--output DIR] [--device DEV]
"""
import argparse
from pathlib import Path
from typing import Optional, Sequence

from .data import (
    DEBIAN_FASHION_MNIST_DIR, prepare_fashion_mnist, prepare_imagenet100, prepare_stl10, prepare_tiny_imagenet,
)
from .model_table import format_rows, model_rows
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


def _study(args: argparse.Namespace) -> None:
    study = load_study(args.study or args.preset, models=args.models)
    out_dir = run_study(study, args.data_dir, args.output, device=args.device)
    print(f'{study.name}: {len(study.models)} runs; table in {out_dir / "results.md"}, plots in {out_dir}')


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

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == '__main__':
    main()
