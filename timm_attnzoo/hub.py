""" `attnzoo push`: trained weights published on the Hugging Face Hub as timm publishes its own, or written to a
local folder in the same layout.

The folder is timm's `save_for_hf` output, config.json (`architecture`, `model_args`, `pretrained_cfg` with the
training data's input size, statistics and labels) and model.safetensors, plus README.md, the model card
(`timm_attnzoo.model_cards.model_card`) filled from what the run recorded and from the model measured here.
`timm.create_model('hf-hub:ORG/NAME', pretrained=True)` or `'local-dir:DIR'` loads it once `timm_attnzoo` is
imported.

Checkpoints are read as written by:
  * timm's train.py: a .pth.tar with `args` (model, in_chans, num_classes, model_kwargs, input_size, mean,
    std, ...) and `state_dict` / `state_dict_ema`, with args.yaml and summary.csv in its folder;
  * `attnzoo study`: a run's weights/ folder, or its last.pth.tar while it trains, with config.yaml,
    metrics.csv and (once finished) summary.json in the run folder.
A checkpoint is the user's own file: it is unpickled in full (`weights_only=False`) to read train.py's args.
"""
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import timm
import torch
import torch.nn as nn
import yaml
from huggingface_hub import HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import validate_repo_id
from timm.models import clean_state_dict, save_for_hf

from .checkpoints import create_model_from_checkpoint
from .dataset_specs import DATA_SETS
from .flops import count_flops
from .model_cards import TrainedWeights, TrainingRun, model_card
from .model_table import attention_layers
from .study.run import SUMMARY, read_epoch_rows, read_metrics, run_input_size, run_model_args
from .study.spec import ModelRun

TRAIN_PY_ARGS = 'args.yaml'  # what train.py writes beside its checkpoints
TRAIN_PY_SUMMARY = 'summary.csv'
STUDY_RUN_CONFIG = 'config.yaml'  # what `attnzoo study` writes in a run's folder
STUDY_METRICS = 'metrics.csv'


class PushError(RuntimeError):
    """ A push that cannot go ahead, with what to do about it. """


def _check_data_set(data_set: Optional[str]) -> None:
    if data_set is not None and data_set not in DATA_SETS:
        raise ValueError(f'--data-set {data_set!r} is not one of {sorted(DATA_SETS)}.')


def _read_study_run(run_dir: Path, data_set: Optional[str]) -> TrainingRun:
    """ A study run's folder: config.yaml, metrics.csv and, once finished, summary.json. The configuration leaves
    out config.yaml's pretrained_cfg: the architecture's default, not the data the run trained on. """
    config = yaml.safe_load((run_dir / STUDY_RUN_CONFIG).read_text())
    config.pop('pretrained_cfg', None)
    data_set = data_set or config['data_set']
    run = ModelRun(**config['run'])
    metrics = read_metrics(run_dir)
    results, results_file = {}, None
    if (run_dir / SUMMARY).exists():
        summary = json.loads((run_dir / SUMMARY).read_text())
        results = {k: summary[k] for k in ('epochs', 'top1', 'top5', 'best_top1', 'train_time_s') if k in summary}
        results_file = str(run_dir / SUMMARY)
    elif metrics:
        last = metrics[-1]
        results = dict(epochs=len(metrics), top1=last['val_top1'], top5=last['val_top5'],
                       best_top1=max(row['val_top1'] for row in metrics))
        results_file = str(run_dir / STUDY_METRICS)
    return TrainingRun(
        architecture=run.model, model_args=run_model_args(data_set, run),
        data_config=DATA_SETS[data_set].data_config(run_input_size(data_set, run)),
        data_set=data_set, training_config=config, training_config_file=str(run_dir / STUDY_RUN_CONFIG),
        metrics=metrics, metrics_file=str(run_dir / STUDY_METRICS) if metrics else None, results=results,
        results_file=results_file)


def _train_py_data_set(args: Dict[str, Any]) -> Optional[str]:
    """ The DATA_SETS key of train.py's --dataset, when it names one (folder data sets are ambiguous). """
    matches = [key for key, spec in DATA_SETS.items() if spec.dataset and spec.dataset == args.get('dataset')]
    return matches[0] if len(matches) == 1 else None


def _read_train_py_run(checkpoint: Dict[str, Any], path: Path, data_set: Optional[str]) -> TrainingRun:
    """ A train.py checkpoint: its args say how the model was built and what it read; args.yaml and summary.csv
    in its folder hold the configuration and one row of results per epoch. """
    args = vars(checkpoint['args'])
    data_set = data_set or _train_py_data_set(args)
    input_size = args.get('input_size')
    in_chans = args.get('in_chans') or (input_size[0] if input_size else 3)
    model_args = dict(in_chans=in_chans, **(args.get('model_kwargs') or {}))
    if args.get('num_classes') is not None:
        model_args['num_classes'] = args['num_classes']
    if args.get('gp') is not None:
        model_args['global_pool'] = args['gp']
    data_config = DATA_SETS[data_set].data_config() if data_set else {}
    data_config.update({key: args[key] for key in ('input_size', 'mean', 'std', 'crop_pct', 'interpolation')
                        if args.get(key) is not None})
    args_file = path.parent / TRAIN_PY_ARGS
    training_config = yaml.safe_load(args_file.read_text()) if args_file.exists() else args
    metrics, results, results_file = [], {}, None
    summary_file = path.parent / TRAIN_PY_SUMMARY
    if summary_file.exists():
        metrics = read_epoch_rows(summary_file)
        evaluated = [row for row in metrics if 'eval_top1' in row]
        at_checkpoint = [row for row in evaluated if row['epoch'] == checkpoint.get('epoch')]
        if evaluated:
            row = (at_checkpoint or evaluated)[-1]
            results = dict(epochs=len(metrics), checkpoint_epoch=row['epoch'], top1=row['eval_top1'],
                           top5=row.get('eval_top5'), best_top1=max(r['eval_top1'] for r in evaluated))
            results_file = str(summary_file)
    return TrainingRun(
        architecture=args['model'], model_args=model_args, data_config=data_config, data_set=data_set,
        training_config=training_config, training_config_file=str(args_file if args_file.exists() else path),
        metrics=metrics, metrics_file=str(summary_file) if metrics else None, results=results, results_file=results_file)


def _load_checkpoint_file(path: Path) -> Dict[str, Any]:
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    except Exception as error:  # a truncated zip, a pickle cut short, not a checkpoint at all
        raise PushError(f'--checkpoint {path} is not a readable PyTorch checkpoint ({type(error).__name__}: {error}); '
                        f'it may be truncated or still being written.') from error
    if not isinstance(checkpoint, dict):
        raise PushError(f'--checkpoint {path} holds a {type(checkpoint).__name__}, not a checkpoint dict.')
    return checkpoint


def _state_dict(checkpoint: Dict[str, Any], use_ema: bool) -> Tuple[Dict[str, torch.Tensor], str]:
    """ The weights to publish, in timm's `load_state_dict` order of preference, and which they are. """
    for key, which in (('state_dict_ema', 'EMA'), ('model_ema', 'EMA'), ('state_dict', 'model'), ('model', 'model')):
        if checkpoint.get(key) is not None and (which == 'model' or use_ema):
            return clean_state_dict(checkpoint[key]), which
    return clean_state_dict(checkpoint), 'model'  # a bare state dict


def load_trained_model(
        model_name: Optional[str],
        checkpoint: Union[str, Path],
        data_set: Optional[str] = None,
        use_ema: bool = True,
) -> Tuple[nn.Module, TrainingRun, str]:
    """ The model of a train.py or study checkpoint with its weights loaded, what its run recorded, and which
    weights were loaded ('EMA' or 'model'). `model_name` must be the architecture the run trained (it may be
    None for a weights folder); `data_set` names the data when the checkpoint does not record it. """
    _check_data_set(data_set)
    path = Path(checkpoint)
    if path.is_dir():
        model = create_model_from_checkpoint(model_name, str(path)).eval()
        if (path.parent / STUDY_RUN_CONFIG).exists():
            run = _read_study_run(path.parent, data_set)
        else:
            config = json.loads((path / 'config.json').read_text())
            cfg = config['pretrained_cfg']
            run = TrainingRun(
                architecture=config['architecture'], model_args=config.get('model_args', {}), data_set=data_set,
                data_config={k: cfg[k] for k in ('input_size', 'mean', 'std', 'crop_pct', 'interpolation') if k in cfg})
        return model, run, 'model'
    if not path.is_file():
        raise FileNotFoundError(f'--checkpoint {path} does not exist.')
    state = _load_checkpoint_file(path)
    if 'args' in state:
        run = _read_train_py_run(state, path, data_set)
    elif (path.parent / STUDY_RUN_CONFIG).exists():
        run = _read_study_run(path.parent, data_set)
    elif data_set is not None and model_name is not None:
        run = TrainingRun(
            architecture=model_name, data_set=data_set, data_config=DATA_SETS[data_set].data_config(),
            model_args=run_model_args(data_set, ModelRun(model_name, model_name)))
    else:
        raise PushError(
            f'--checkpoint {path} records neither train.py args nor a study run beside it: give --model and '
            f'--data-set ({", ".join(sorted(DATA_SETS))}) to say what it was trained as.')
    if model_name is not None and timm.models.get_arch_name(model_name) != run.architecture:
        raise PushError(f'--checkpoint {path} was trained as {run.architecture}, not --model {model_name}.')
    model = timm.create_model(run.architecture, **run.model_args)
    state_dict, weights = _state_dict(state, use_ema)
    model.load_state_dict(state_dict)
    return model.eval(), run, weights


def export_weights(
        model: nn.Module, run: TrainingRun, repo_id: str, folder: Path, checkpoint: str, weights: str) -> TrainedWeights:
    """ Write config.json, model.safetensors (timm's `save_for_hf`) and README.md, the model card, into `folder`. """
    labels = DATA_SETS[run.data_set].label_names if run.data_set else None
    save_for_hf(
        model, str(folder), model_config=dict(label_names=list(labels)) if labels else None,
        model_args=run.model_args, data_config=run.data_config, safe_serialization=True)
    config = json.loads((folder / 'config.json').read_text())
    trained = TrainedWeights(
        repo_id=repo_id, architecture=config['architecture'], model_args=config.get('model_args', {}),
        pretrained_cfg=config['pretrained_cfg'], params=sum(p.numel() for p in model.parameters()),
        flops=count_flops(model, input_size=tuple(config['pretrained_cfg']['input_size'])),
        attention=attention_layers(model), checkpoint=checkpoint, weights=weights, run=run)
    (folder / 'README.md').write_text(model_card(trained))
    return trained


def write_local_dir(
        model: nn.Module, run: TrainingRun, repo_id: str, local_dir: Union[str, Path], checkpoint: str,
        weights: str) -> Path:
    """ The Hub folder written to `local_dir` (new or empty) whole or not at all: it is assembled in a hidden
    folder beside it and renamed into place. """
    target = Path(local_dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise PushError(f'--local-dir {target} already exists and is not empty; choose a new folder.')
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f'.{target.name}.', dir=target.parent))
    try:
        export_weights(model, run, repo_id, staging, checkpoint, weights)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _create_repo(api: HfApi, repo_id: str, private: bool, exist_ok: bool) -> bool:
    """ Create the Hub repository; True if this call created it, False if it existed (with exist_ok). """
    try:
        api.create_repo(repo_id, private=private, exist_ok=False)
        return True
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status == 409:
            if exist_ok:
                return False
            raise PushError(f'The Hub repository {repo_id} already exists: choose another --repo-id, or pass '
                            f'--exist-ok to add these weights to it as a new commit.') from error
        if status in (401, 403):
            raise PushError(f'The Hub refused to create {repo_id} (HTTP {status}): the token has no write access to '
                            f'{repo_id.split("/")[0]}.') from error
        raise PushError(f'The Hub could not create {repo_id}: {error}') from error
    except Exception as error:  # offline mode, refused connection, DNS, TLS: the transport's own errors
        raise PushError(f'Cannot reach the Hugging Face Hub at {api.endpoint} ({type(error).__name__}: {error}). '
                        f'Nothing was uploaded; --local-dir DIR writes the same folder to upload later.') from error


def upload(
        model: nn.Module, run: TrainingRun, repo_id: str, checkpoint: str, weights: str, private: bool = False,
        exist_ok: bool = False) -> str:
    """ Publish the folder as one commit to `repo_id`; returns the commit's URL. The folder is written before
    the Hub is contacted, and a repository this call created is deleted again if the upload fails. """
    token = get_token()
    if token is None:
        raise PushError('No Hugging Face token: log in with `hf auth login` or set HF_TOKEN to a token with write '
                        'access. --local-dir DIR writes the same folder without uploading.')
    api = HfApi(token=token, library_name='timm', library_version=timm.__version__)
    with tempfile.TemporaryDirectory() as staging:
        trained = export_weights(model, run, repo_id, Path(staging), checkpoint, weights)
        created = _create_repo(api, repo_id, private, exist_ok)
        try:
            commit = api.upload_folder(
                repo_id=repo_id, folder_path=staging,
                commit_message=f'{trained.architecture} weights ({weights}) from attnzoo push')
        except Exception as error:
            cleanup = ''
            if created:
                try:
                    api.delete_repo(repo_id)
                    cleanup = f' The repository {repo_id} this push created was deleted again.'
                except Exception as delete_error:
                    cleanup = f' Deleting the repository {repo_id} this push created failed too ({delete_error}).'
            raise PushError(f'Uploading to {repo_id} failed ({type(error).__name__}: {error}).{cleanup}') from error
    return commit.commit_url


def push(
        model_name: Optional[str],
        checkpoint: Union[str, Path],
        repo_id: str,
        local_dir: Optional[Union[str, Path]] = None,
        data_set: Optional[str] = None,
        use_ema: bool = True,
        private: bool = False,
        exist_ok: bool = False,
) -> str:
    """ `attnzoo push`: the checkpoint's model published as `repo_id`, or written to `local_dir`. Returns the
    folder or the commit URL. """
    try:
        validate_repo_id(repo_id)
    except Exception as error:
        raise PushError(f'--repo-id {repo_id!r} is not a Hub repository id: {error}') from error
    if '/' not in repo_id:
        raise PushError(f'--repo-id {repo_id!r} needs its owner: ORGANISATION/NAME or USER/NAME.')
    model, run, weights = load_trained_model(model_name, checkpoint, data_set, use_ema)
    if local_dir is not None:
        return str(write_local_dir(model, run, repo_id, local_dir, str(checkpoint), weights))
    return upload(model, run, repo_id, str(checkpoint), weights, private=private, exist_ok=exist_ok)
