""" `attnzoo study`: the comparison the seeds were written for. Models trained on one data set with one
recipe through timm's training pieces, each measured (parameters, FLOPs, latency, memory, training time), and
a table and plots of what each attention costs against what it buys. """
from pathlib import Path
from typing import Union

import torch
import yaml

from .report import write_report
from .run import read_metrics, run_model
from .spec import Study, load_study, preset_names, study_from_dict

__all__ = ['Study', 'load_study', 'preset_names', 'run_study', 'study_from_dict']


def run_study(study: Study, data_root: Union[str, Path], output: Union[str, Path], device: str = 'cpu') -> Path:
    """ Run every model of the study not yet finished under output/<study name>/ and write the report there. """
    out_dir = Path(output) / study.name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'study.yaml').write_text(yaml.safe_dump(study.to_dict(), sort_keys=False))
    summaries = []
    for i, run in enumerate(study.models):
        print(f'[{i + 1}/{len(study.models)}] {run.name} ({run.model})', flush=True)
        summaries.append(run_model(study, run, Path(data_root), out_dir / run.name, torch.device(device)))
    write_report(out_dir, summaries, {run.name: read_metrics(out_dir / run.name) for run in study.models})
    return out_dir
