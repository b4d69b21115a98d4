""" A train.py configuration checked before a run: timm's train.py reads a YAML file with `-c` and sets its keys as
argument defaults without looking at them, so a misspelt key (`learning_rate` for `lr`) or a value of the wrong
type trains silently with the default. `check_train_config` holds a file against train.py's own argument parser,
read from a named train.py into `train_py_arguments.json` (name, type, nargs and choices of every argument), and
the model against timm's registry with the plugin loaded. `attnzoo check-config FILE ...` runs it.
"""
import difflib
import json
from pathlib import Path
from typing import Any, Dict, List, Union

import timm
import yaml

TRAIN_PY_ARGUMENTS = json.loads((Path(__file__).parent / 'train_py_arguments.json').read_text())
_TYPES = {'bool': (bool,), 'int': (int,), 'float': (int, float), 'str': (str,), 'dict': (dict,)}


def _type_ok(value: Any, type_name: str) -> bool:
    return isinstance(value, _TYPES[type_name]) and not (type_name != 'bool' and isinstance(value, bool))


def _value_problem(key: str, value: Any, spec: Dict[str, Any]) -> str:
    """ What is wrong with train.py's `key` set to `value`, or ''. """
    nargs, type_name = spec['nargs'], spec['type']
    takes_list = nargs in ('+', '*') or (isinstance(nargs, int) and nargs > 0)
    if takes_list and type_name != 'dict':
        if not isinstance(value, list) or not all(_type_ok(v, type_name) for v in value):
            return f'{key}: {value!r} is not a list of {type_name}'
        if isinstance(nargs, int) and len(value) != nargs:
            return f'{key}: {value!r} has {len(value)} values, train.py takes {nargs}'
        values = value
    elif not _type_ok(value, type_name):
        return f'{key}: {value!r} is not a {type_name}'
    else:
        values = [value]
    outside = [v for v in values if spec['choices'] and v not in spec['choices']]
    return f'{key}: {outside[0]!r} is not one of {spec["choices"]}' if outside else ''


def train_config_problems(config: Dict[str, Any]) -> List[str]:
    """ Every problem of a train.py configuration (its YAML as a dict), each a line naming the key. """
    arguments = TRAIN_PY_ARGUMENTS['arguments']
    problems = []
    for key, value in config.items():
        if key not in arguments:
            close = difflib.get_close_matches(key, arguments, n=1)
            problems.append(f'{key}: not an argument of train.py' + (f'; did you mean {close[0]!r}?' if close else ''))
        elif value is not None:
            problems.append(_value_problem(key, value, arguments[key]))
    if isinstance(config.get('model'), str):
        import timm_attnzoo  # noqa: F401  registers the zoo, as the config's device_modules does for train.py
        if not timm.is_model(config['model']):
            close = difflib.get_close_matches(config['model'], timm.list_models(), n=1)
            problems.append(f"model: {config['model']!r} is not a registered model"
                            + (f'; did you mean {close[0]!r}?' if close else ''))
    return [problem for problem in problems if problem]


def check_train_config(path: Union[str, Path]) -> None:
    """ Raise a ValueError listing every problem of the train.py configuration at `path`. """
    config = yaml.safe_load(Path(path).read_text())
    if not isinstance(config, dict):
        raise ValueError(f'{path}: a train.py configuration is a mapping of argument names to values.')
    problems = train_config_problems(config)
    if problems:
        raise ValueError(f'{path} (train.py arguments of {TRAIN_PY_ARGUMENTS["source"]}):\n  ' + '\n  '.join(problems))
