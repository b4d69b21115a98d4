""" `attnzoo`: the package's single command-line entry point.

    attnzoo models [--format table|csv|json] [--output FILE] [MODEL ...]
    attnzoo prepare-data [--root DIR]
"""
import argparse
from pathlib import Path
from typing import Optional, Sequence

from .data import DEBIAN_FASHION_MNIST_DIR, prepare_fashion_mnist
from .model_table import format_rows, model_rows


def _models(args: argparse.Namespace) -> None:
    text = format_rows(model_rows(args.model), args.format)
    print(text)
    if args.output:
        Path(args.output).write_text(text + '\n')


def _prepare_data(args: argparse.Namespace) -> None:
    root = prepare_fashion_mnist(args.root, args.source)
    print(f"Fashion-MNIST ready for timm: --data-dir {root} --dataset torch/fashion_mnist")


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog='attnzoo', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)

    models = commands.add_parser('models', help='list every registered model with its parameters and FLOPs')
    models.add_argument('model', nargs='*', help='model names (default: every model of the package)')
    models.add_argument('--format', choices=('table', 'csv', 'json'), default='table')
    models.add_argument('--output', help='also write the listing to this file')
    models.set_defaults(run=_models)

    data = commands.add_parser('prepare-data', help="lay Debian's Fashion-MNIST out for timm's torch/fashion_mnist loader")
    data.add_argument('--root', default='data', help='folder to write FashionMNIST/raw into')
    data.add_argument('--source', default=str(DEBIAN_FASHION_MNIST_DIR), help='folder holding the .gz IDX files')
    data.set_defaults(run=_prepare_data)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == '__main__':
    main()
