""" A study: models trained on one data set with one shared recipe, a model changing some of its keys, read from YAML.

    name: fashion_mnist_default
    data_set: fashion_mnist          # a key of timm_attnzoo.dataset_specs.DATA_SETS
    train_samples: 6400              # optional: a fixed random subset of the training split
    recipe: {epochs: 2, lr: 1.0e-3}  # train.py's names and defaults (Recipe below)
    models:
      - vit_performer_cifar
      - {name: mixer_small, model: mixer_cifar, kwargs: {embed_dim: 128, num_blocks: 4}}
      - {name: vit_56, model: vit_cifar, img_size: 56}   # the images upsampled to 56 x 56
    model_kwargs:                    # optional: arguments for every run of a model, under the run's own kwargs
      vit_performer_cifar: {attn_kwargs: {performer: {num_features: 64, feature_redraw_interval: 0}}}
    model_recipes:                   # optional: a model's own recipe keys, over the shared recipe for its runs
      swin_cifar: {lr: 1.25e-4, warmup_epochs: 2, clip_grad: 5.0}

The presets in study/presets/ are such files: `default` runs one small model of every family on
Fashion-MNIST in minutes on a CPU, `full` every registered model with the Fashion-MNIST recipe of
train_configs/.
"""
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import timm
import yaml

from ..dataset_specs import DATA_SETS
from ..registry import list_models

PRESETS_DIR = Path(__file__).parent / 'presets'
ALL_MODELS = 'all'  # `models: all` in a study file: every registered model at its default size


@dataclass(frozen=True)
class Recipe:
    """ The training recipe, in timm train.py's argument names and with its defaults where it has them. """
    epochs: int = 10
    batch_size: int = 128
    opt: str = 'adamw'
    lr: float = 1e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    opt_betas: Optional[Tuple[float, ...]] = None
    sched: str = 'cosine'
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5
    warmup_prefix: bool = False
    min_lr: float = 0.0
    smoothing: float = 0.1
    mixup: float = 0.0
    cutmix: float = 0.0
    scale: Tuple[float, float] = (0.08, 1.0)
    ratio: Tuple[float, float] = (3. / 4., 4. / 3.)
    hflip: float = 0.5
    color_jitter: float = 0.0
    clip_grad: Optional[float] = None  # gradients clipped at this norm (or value, with clip_mode 'value')
    clip_mode: str = 'norm'
    workers: int = 1
    seed: int = 42


@dataclass(frozen=True)
class ModelRun:
    name: str  # the run's folder and its label in the table
    model: str
    kwargs: Dict[str, Any] = field(default_factory=dict)
    img_size: Optional[int] = None  # images resized to img_size x img_size (upsampled), else the data set's size


@dataclass(frozen=True)
class Study:
    name: str
    data_set: str
    models: Tuple[ModelRun, ...]
    recipe: Recipe = Recipe()
    train_samples: Optional[int] = None
    val_samples: Optional[int] = None
    model_kwargs: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    model_recipes: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _recipe(keys: Dict[str, Any], where: str) -> Dict[str, Any]:
    """ Recipe keys checked against Recipe's fields, their lists made tuples as Recipe holds them. """
    recipe_keys = {f.name for f in fields(Recipe)}
    if set(keys) - recipe_keys:
        raise ValueError(
            f'Unknown recipe keys {sorted(set(keys) - recipe_keys)} in {where}; a recipe has {sorted(recipe_keys)}.')
    return {k: tuple(v) if k in ('opt_betas', 'scale', 'ratio') and v is not None else v for k, v in keys.items()}


def _per_model(config: Dict[str, Any], key: str) -> Dict[str, Dict[str, Any]]:
    """ A study file's settings by model (`model_kwargs`, `model_recipes`), refused where they name no model. """
    per_model = dict(config.get(key) or {})
    unknown = [name for name in per_model if not timm.is_model(name)]
    if unknown:
        raise ValueError(f'{key} names unknown models {unknown}; see `attnzoo models`.')
    return per_model


def run_recipe(study: Study, run: ModelRun) -> Recipe:
    """ The recipe a run trains with: the study's, with its model's keys of `model_recipes` over it. """
    return replace(study.recipe, **study.model_recipes.get(run.model, {}))


def _model_run(entry: Union[str, Dict[str, Any]], model_kwargs: Dict[str, Dict[str, Any]]) -> ModelRun:
    if isinstance(entry, str):
        entry = {'model': entry}
    unknown = set(entry) - {'name', 'model', 'kwargs', 'img_size'}
    if unknown or 'model' not in entry:
        raise ValueError(f'A model entry is a name or {{name, model, kwargs, img_size}}, got {entry}.')
    if not timm.is_model(entry['model']):
        raise ValueError(f'Unknown model {entry["model"]!r}: `import timm_attnzoo` registers the zoo; see `attnzoo models`.')
    kwargs = {**model_kwargs.get(entry['model'], {}), **(entry.get('kwargs') or {})}
    return ModelRun(entry.get('name', entry['model']), entry['model'], kwargs, entry.get('img_size'))


def study_from_dict(config: Dict[str, Any], models: Sequence[str] = ()) -> Study:
    """ A Study from a parsed study file; `models` (names) replaces its model list. """
    known = {f.name for f in fields(Study)}
    if set(config) - known:
        raise ValueError(f'Unknown study keys {sorted(set(config) - known)}; a study has {sorted(known)}.')
    if config.get('data_set') not in DATA_SETS:
        raise ValueError(f'data_set must be one of {sorted(DATA_SETS)}, got {config.get("data_set")!r}.')
    recipe = _recipe(config.get('recipe') or {}, 'recipe')
    entries = list(models) or config.get('models') or []
    if entries == ALL_MODELS:
        entries = list_models()
    model_kwargs = _per_model(config, 'model_kwargs')
    model_recipes = {name: _recipe(keys or {}, f'model_recipes.{name}')
                     for name, keys in _per_model(config, 'model_recipes').items()}
    runs = tuple(_model_run(entry, model_kwargs) for entry in entries)
    if not runs:
        raise ValueError('A study needs at least one model.')
    if len({run.name for run in runs}) != len(runs):
        raise ValueError(f'Run names must be unique: {[run.name for run in runs]}.')
    return Study(
        name=config.get('name', 'study'), data_set=config['data_set'], models=runs, recipe=Recipe(**recipe),
        train_samples=config.get('train_samples'), val_samples=config.get('val_samples'), model_kwargs=model_kwargs,
        model_recipes=model_recipes)


def load_study(path_or_preset: Union[str, Path], models: Sequence[str] = ()) -> Study:
    """ A study from a YAML file, or a preset by name ('default', 'full'). """
    path = Path(path_or_preset)
    if not path.suffix:
        path = PRESETS_DIR / f'{path_or_preset}.yaml'
        if not path.exists():
            raise ValueError(f'No preset {path_or_preset!r}; presets: {preset_names()}.')
    return study_from_dict(yaml.safe_load(path.read_text()), models)


def preset_names() -> List[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob('*.yaml'))
