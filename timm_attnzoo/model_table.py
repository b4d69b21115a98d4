""" The package's main listing: every registered model with its parameters and FLOPs at its default input size. """
import csv
import io
import json
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import timm

from .flops import count_flops
from .registry import list_models


def _attention_name(module) -> Optional[str]:
    """ The zoo's attention layers by name; timm's own (Swin's, TNT's) as 'timm.<name>'; None for the rest. """
    cls = type(module)
    if cls.__module__.startswith('timm_attnzoo.layers.'):
        return cls.__name__
    if cls.__module__.startswith('timm.') and cls.__name__.endswith('Attention'):
        return f'timm.{cls.__name__}'
    return None


def attention_layers(model) -> str:
    """ The attention classes a model holds, in block order, e.g. 'PerformerAttention+SoftmaxAttention';
    'none' for a model without (the convolutional baselines, MLP-Mixer). """
    names = [name for name in map(_attention_name, model.modules()) if name]
    return '+'.join(dict.fromkeys(names)) or 'none'


def model_rows(model_names: Sequence[str] = ()) -> List[Dict[str, object]]:
    rows = []
    for name in model_names or list_models():
        model = timm.create_model(name)
        input_size = model.pretrained_cfg['input_size']
        rows.append({
            'model': name,
            'attention': attention_layers(model),
            'params': sum(p.numel() for p in model.parameters()),
            'flops': count_flops(model, input_size=input_size),
            'input_size': 'x'.join(str(s) for s in input_size),
        })
    return rows


class Column(NamedTuple):
    """ A column of a text table: its header, its cell from a row, and left alignment for text (numbers go right). """
    header: str
    cell: Callable[[Dict[str, object]], str]
    left: bool = False


MODEL_COLUMNS = (
    Column('model', lambda row: row['model'], left=True),
    Column('attention', lambda row: row['attention'], left=True),
    Column('params', lambda row: f"{row['params']:,}"),
    Column('MFLOPs', lambda row: f"{row['flops'] / 1e6:.2f}"),
    Column('input', lambda row: row['input_size']),
)


def format_rows(rows: List[Dict[str, object]], fmt: str = 'table', columns: Sequence[Column] = MODEL_COLUMNS) -> str:
    """ rows as an aligned text table of `columns` ('table'), or every field of every row as CSV or JSON.
    The models listing's table has FLOPs in millions (M). """
    if fmt == 'json':
        return json.dumps(rows, indent=2)
    if fmt == 'csv':
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    lines = [[column.header for column in columns]] + [[column.cell(row) for column in columns] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]

    def fmt_line(cells: Sequence[str]) -> str:
        return '  '.join(
            cell.ljust(width) if column.left else cell.rjust(width) for cell, width, column in zip(cells, widths, columns))
    return '\n'.join([fmt_line(lines[0]), fmt_line(['-' * w for w in widths])] + [fmt_line(line) for line in lines[1:]])
