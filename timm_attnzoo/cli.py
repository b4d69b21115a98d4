""" `attnzoo`: the package's single command-line entry point.

    attnzoo models [--format table|csv|json] [--output FILE] [MODEL ...]
    attnzoo prepare-data [fashion_mnist|stl10|tiny_imagenet] [--root DIR] [--source PATH]
    attnzoo write-configs [--output DIR]
"""
import argparse
from pathlib import Path
from typing import Optional, Sequence

from .data import DEBIAN_FASHION_MNIST_DIR, prepare_fashion_mnist, prepare_stl10, prepare_tiny_imagenet
from .model_table import format_rows, model_rows
from .train_configs import write_fashion_mnist_configs


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
    prepare = prepare_stl10 if args.dataset == 'stl10' else prepare_tiny_imagenet
    folder = prepare(args.root, args.source)
    print(f'{args.dataset} ready for timm\'s folder reader: --data-dir {folder} (train/ and val/)')


def _write_configs(args: argparse.Namespace) -> None:
    paths = write_fashion_mnist_configs(args.output)
    print(f'{len(paths)} Fashion-MNIST configurations for train.py in {paths[0].parent}')


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
        'dataset', nargs='?', choices=('fashion_mnist', 'stl10', 'tiny_imagenet'), default='fashion_mnist')
    data.add_argument('--root', default='data', help='folder to write the data set into')
    data.add_argument(
        '--source', help=f'Fashion-MNIST: folder of .gz IDX files (default {DEBIAN_FASHION_MNIST_DIR}); '
                         'STL-10: stl10_binary.tar.gz; Tiny ImageNet: tiny-imagenet-200.zip')
    data.set_defaults(run=_prepare_data)

    configs = commands.add_parser('write-configs', help="write the Fashion-MNIST train.py configuration of every model")
    configs.add_argument('--output', default='train_configs', help='folder to write fashion_mnist/<model>.yaml into')
    configs.set_defaults(run=_write_configs)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == '__main__':
    main()
