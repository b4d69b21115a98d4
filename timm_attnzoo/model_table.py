""" The package's main listing: every registered model with its parameters and FLOPs at its default input size. """
import csv
import io
import json
from typing import Dict, List, Sequence

import timm

from .flops import count_flops
from .registry import list_models


def attention_layers(model) -> str:
    """ The zoo attention classes a model holds, in block order, e.g. 'PerformerAttention+SoftmaxAttention';
    'none' for a model without (the convolutional baselines). """
    names = [type(m).__name__ for m in model.modules() if type(m).__module__.startswith('timm_attnzoo.layers.')]
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


def format_rows(rows: List[Dict[str, object]], fmt: str = 'table') -> str:
    """ rows as an aligned text table ('table'), CSV or JSON. FLOPs in the table are in millions (M). """
    if fmt == 'json':
        return json.dumps(rows, indent=2)
    if fmt == 'csv':
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    header = ['model', 'attention', 'params', 'MFLOPs', 'input']
    lines = [[r['model'], r['attention'], f"{r['params']:,}", f"{r['flops'] / 1e6:.2f}", r['input_size']] for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines)]
    fmt_line = lambda cells: '  '.join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return '\n'.join([fmt_line(header), fmt_line(['-' * w for w in widths])] + [fmt_line(line) for line in lines])
