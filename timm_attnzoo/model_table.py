""" The package's main listing: every registered model with its parameters and FLOPs at its default input size. """
import csv
import io
import json
from typing import Dict, List, Optional, Sequence

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
