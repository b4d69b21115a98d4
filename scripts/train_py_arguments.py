""" Write the arguments timm's train.py accepts, as test data for the configurations in train_configs/.

    python scripts/train_py_arguments.py PATH/TO/train.py --commit HASH --timm-version VERSION \
        > timm_attnzoo/train_py_arguments.json

train.py is not in the timm wheel and is not part of this repository: it is read from a checkout of
huggingface/pytorch-image-models. Its parser is built at import time, so importing the file (its main() is
guarded) yields every argument: the key a YAML configuration uses (the argparse dest), its type, nargs and
choices.
"""
import argparse
import importlib.util
import json
import sys

import timm


def _type_name(action: argparse.Action) -> str:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return 'bool'
    if action.type is not None:
        return action.type.__name__
    return 'dict' if isinstance(action.default, dict) else 'str'  # ParseKwargs takes key=value pairs


def train_py_arguments(path: str) -> dict:
    spec = importlib.util.spec_from_file_location('timm_train_py', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    arguments = {}
    for action in module.parser._actions:
        if action.dest in ('help', 'data'):  # the positional data dir is deprecated for --data-dir
            continue
        arguments[action.dest] = dict(
            type=_type_name(action),
            nargs=action.nargs if isinstance(action.nargs, (int, type(None))) else str(action.nargs),
            choices=list(action.choices) if action.choices else None,
        )
    return arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('train_py')
    parser.add_argument('--commit', required=True, help='the pytorch-image-models commit train.py was read at')
    parser.add_argument('--timm-version', required=True, help="timm/version.py at that commit")
    args = parser.parse_args()
    json.dump(dict(
        source=f'huggingface/pytorch-image-models train.py at {args.commit}',
        timm_version=args.timm_version,
        imported_with_timm=timm.__version__,
        arguments=train_py_arguments(args.train_py),
    ), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
