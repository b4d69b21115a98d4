""" Hugging Face Hub model cards: one per model family for hub_cards/ (`attnzoo cards`), and the card of one set of
trained weights that `attnzoo push` writes, filled from the run's own recorded results.

A family card describes its family (the papers, the architecture as this package builds it), lists the registered
variants with their parameters and FLOPs as their Fashion-MNIST weights tag builds them (what `attnzoo models`
prints), names each tag's Hub repository and train.py configuration, and shows the family's runs of the studies it
is given: the full preset's runs, which trained the weights, and comparison runs. Each study's results.csv and
study.yaml are copied to hub_cards/results/<study name>/, so the cards can be written again without the study folders.
No figure is typed: each comes from a command the card names.
"""
import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import timm
import yaml
from timm.models import model_entrypoint, split_model_name_tag

from .constants import FASHION_MNIST_LABELS
from .dataset_specs import DATA_SETS
from .model_families import ATTENTION_TAGS, FAMILIES, ModelFamily, family_models, family_of
from .model_table import MODEL_COLUMNS, model_rows
from .models.pretrained_cfg import FASHION_MNIST_TAG, hub_repo_id
from .study import Study, load_study, preset_names, study_from_dict
from .study.report import COLUMNS as STUDY_COLUMNS
from .train_configs import (
    FASHION_MNIST_MODEL_KWARGS, FASHION_MNIST_MODEL_RECIPE_NOTES, FASHION_MNIST_MODEL_RECIPES, FASHION_MNIST_RECIPE)


@dataclass(frozen=True)
class TrainingRun:
    """ What a checkpoint's run recorded: how to build the model, its data, its configuration and its results. """
    architecture: str  # registered model name, e.g. 'vit_performer_cifar'
    model_args: Dict[str, Any]  # what builds the model as it was trained (in_chans, num_classes, img_size, ...)
    data_config: Dict[str, Any]  # save_for_hf's data_config: input_size, mean, std, crop_pct, interpolation
    data_set: Optional[str] = None  # key of timm_attnzoo.dataset_specs.DATA_SETS, when the run says
    training_config: Optional[Dict[str, Any]] = None  # the run's recorded configuration (train.py args / study config)
    training_config_file: Optional[str] = None  # the file it was read from
    metrics: List[Dict[str, Any]] = field(default_factory=list)  # per-epoch rows as the run recorded them
    metrics_file: Optional[str] = None  # the file the per-epoch rows were read from
    results: Dict[str, Any] = field(default_factory=dict)  # final results: top1, top5, best_top1, epochs, ...
    results_file: Optional[str] = None  # the file the results were read from


@dataclass(frozen=True)
class TrainedWeights:
    """ What `attnzoo push` publishes: the exported config, what it measured on the model, and the run. """
    repo_id: str  # 'ORG/NAME' on the Hub
    architecture: str  # config.json's architecture
    model_args: Dict[str, Any]  # config.json's model_args: what builds the model again (in_chans, img_size, ...)
    pretrained_cfg: Dict[str, Any]  # config.json's pretrained_cfg: input_size, mean, std, num_classes, label_names...
    params: int
    flops: int  # timm_attnzoo.flops.count_flops at pretrained_cfg['input_size'], batch 1
    attention: str  # the attention layers it holds, as timm_attnzoo.model_table.attention_layers names them
    checkpoint: str  # the file or folder that was pushed
    weights: str  # which weights of the checkpoint: 'EMA' or 'model'
    run: TrainingRun


HUB_DATASETS = {  # data sets of DATA_SETS on the Hub, for the cards' front matter
    'fashion_mnist': 'zalando-datasets/fashion_mnist', 'mnist': 'ylecun/mnist', 'cifar10': 'uoft-cs/cifar10',
}
DATA_SET_TITLES = {
    'fashion_mnist': 'Fashion-MNIST', 'mnist': 'MNIST', 'cifar10': 'CIFAR-10', 'stl10': 'STL-10',
    'tiny_imagenet': 'Tiny ImageNet', 'imagenet100': 'ImageNet-100',
}
COMMON_TAGS = ('image-classification', 'timm', 'timm_attnzoo')
INTENDED_USE = (
    'Research and teaching: comparing efficient attention mechanisms and small vision architectures trained with one '
    'recipe, looking at what they attend to (`attnzoo attention-map`), and starting points for fine-tuning on other '
    'small images (timm adapts the input layer to another `in_chans` and replaces the classifier for another '
    '`num_classes` when it loads the weights).')
CARDS_DIR = 'hub_cards'  # where the family cards are committed; the cards name paths under it
STUDY_FILES = ('results.csv', 'study.yaml')
STUDY_RECIPE_KEYS = ('batch_size', 'opt', 'lr', 'weight_decay', 'sched', 'warmup_epochs', 'min_lr', 'smoothing', 'seed')
STUDY_RESULT_KEYS = ('params', 'flops', 'epochs', 'top1', 'top5', 'best_top1')
RESULT_LABELS = {
    'top1': 'top-1 (%)', 'top5': 'top-5 (%)', 'best_top1': 'best top-1 (%)', 'epochs': 'epochs',
    'checkpoint_epoch': 'checkpoint epoch', 'train_time_s': 'training time (s)',
}


def _front_matter(tags: Sequence[str], data_set: Optional[str]) -> str:
    meta = dict(library_name='timm', license='apache-2.0', pipeline_tag='image-classification')
    if data_set in HUB_DATASETS:
        meta['datasets'] = [HUB_DATASETS[data_set]]
    meta.update(metrics=['accuracy'], tags=list(dict.fromkeys(tags)))
    return f'---\n{yaml.safe_dump(meta, sort_keys=False)}---\n'


def _attention_tags(attention: str) -> List[str]:
    return [tag for name in attention.split('+') for tag in ATTENTION_TAGS.get(name, ())]


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)]
    return '\n'.join(lines + ['| ' + ' | '.join(row) + ' |' for row in rows])


def _number(value: Any) -> Any:
    """ A CSV cell as the int or float it holds; anything else unchanged. """
    if not isinstance(value, str):
        return value
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _format_value(key: str, value: Any) -> str:
    """ A recorded value for a card: accuracies (top-1, top-5) in % to 2 decimals as the study's tables have them,
    other floats to 4 significant digits (whole numbers past 10,000), the rest as is. """
    value = _number(value)
    if any(accuracy in key for accuracy in ('top1', 'top5')) and isinstance(value, (int, float)):
        return f'{value:.2f}'
    if isinstance(value, float):
        return f'{value:.4g}' if abs(value) < 1e4 else f'{value:,.0f}'
    return str(value)


def _code_list(values: Dict[str, Any]) -> str:
    return ', '.join(f'`{key}={list(value) if isinstance(value, tuple) else value}`' for key, value in values.items())


def _fashion_mnist_summary() -> str:
    data = DATA_SETS['fashion_mnist']
    return (f"Fashion-MNIST ({'x'.join(map(str, data.input_size))} grayscale images of clothing in "
            f'{len(FASHION_MNIST_LABELS)} classes)')


def _common_limitations(data: str) -> List[str]:
    return [
        f'Trained on {data} only: not evaluated on any other data, and meaningless on photographs, colour images or '
        'other classes without fine-tuning.',
        'Small research models sized for 32x32 images; not tested for robustness, calibration or bias, and not for '
        'production or for decisions about people.',
    ]


def _bullets(lines: Sequence[str]) -> str:
    return '\n'.join(f'- {line}' for line in lines)


def _papers_section(family: ModelFamily) -> str:
    return '## Papers\n\n' + _bullets([paper.reference() for paper in family.papers])


def _citation_section(family: ModelFamily) -> str:
    return '## Citation\n\n```bibtex\n' + '\n\n'.join(paper.bibtex() for paper in family.papers) + '\n```'


# --- family cards -------------------------------------------------------------------------------------------------

def _preset_command(study: Study) -> Optional[str]:
    """ The `attnzoo study --preset NAME` that runs `study`, with `--models` when it runs some of the preset's models
    as it names them; None when the study is no preset's. """
    models = [run.model for run in study.models]
    for preset in preset_names():
        if load_study(preset) == study:
            return f'attnzoo study --preset {preset}'
        if load_study(preset, models) == study:
            return f'attnzoo study --preset {preset} --models {" ".join(models)}'
    return None


def _trained_the_weights(study: Study) -> bool:
    """ Whether the study's runs are the training of the `fmnist_e30` weights: the full preset's data set, recipe and
    splits (`attnzoo push --checkpoint studies/<study>/<run>/weights` exports a run's weights). """
    full = load_study('full')
    return ((study.data_set, study.recipe, study.model_recipes, study.train_samples, study.val_samples)
            == (full.data_set, full.recipe, full.model_recipes, full.train_samples, full.val_samples))


def _run_command(family: str) -> str:
    """ The commands that would train runs of `family` and put them in the cards: the default preset's, or the full
    preset's when the default has none. """
    default = load_study('default')
    runs = [run.name for run in default.models if family_of(run.model) == family]
    if runs:
        return (f'`attnzoo study --preset default` trains {", ".join(f"`{run}`" for run in runs)}, and '
                f'`attnzoo cards --study studies/{default.name}` puts the results here')
    return ('`attnzoo study --preset full` trains every registered model, and `attnzoo cards --study '
            f'studies/{load_study("full").name}` puts the results here')


def _study_data(study: Study) -> str:
    data = DATA_SETS[study.data_set]
    split = 'test split' if data.dataset.startswith('torch/') else 'validation split'
    train = (f'a fixed {study.train_samples:,}-image subset of the training split' if study.train_samples
             else 'the whole training split')
    val = f'{study.val_samples:,} images of the {split}' if study.val_samples else f'the whole {split}'
    recipe = {key: getattr(study.recipe, key) for key in STUDY_RECIPE_KEYS}
    return (f'{DATA_SET_TITLES.get(study.data_set, study.data_set)} (`{study.data_set}`, timm\'s `{data.dataset}`), '
            f'{study.recipe.epochs} epochs over {train}, evaluated on {val}; recipe {_code_list(recipe)} (the whole '
            'recipe is in study.yaml)')


def _family_runs(family: str, study_dir: Path) -> List[Dict[str, str]]:
    """ The rows of the study's results.csv in `study_dir` whose model is of `family`. """
    with (study_dir / 'results.csv').open() as f:
        return [row for row in csv.DictReader(f) if family_of(row['model']) == family]


def _study_results(family: str, study_dir: Path, study: Study) -> str:
    """ The family's runs of `study`, read from its results.csv in `study_dir`, under a heading named after it. """
    command = _preset_command(study) or f'attnzoo study {CARDS_DIR}/results/{study.name}/study.yaml'
    rows = _family_runs(family, study_dir)
    copy = f'results/{study.name}'
    source = (f'[results.csv]({copy}/results.csv) and [study.yaml]({copy}/study.yaml) of the study, copied to '
              f'`{CARDS_DIR}/{copy}/` by `attnzoo cards --study`')
    lines = [f'### {study.name}']
    if not rows:
        missing = ''
        if ' --models ' in command:
            missing = f': `{command} {" ".join(family_models(family))}` adds them'
        lines.append(f'The study `{study.name}` (`{command}`; {source}) has no run of this family yet{missing}.')
        return '\n\n'.join(lines)
    if _trained_the_weights(study):
        purpose = (f'Its runs trained the `{FASHION_MNIST_TAG}` weights of the tables above (`attnzoo push --checkpoint '
                   f'studies/{study.name}/<run>/weights` exports them), and each weights repository\'s card gives its '
                   'run\'s metrics per epoch')
    else:
        purpose = (f'These are comparison runs, not the training of the `{FASHION_MNIST_TAG}` weights, whose own cards '
                   'give their results')
    kwargs = {run.name: run.kwargs for run in study.models}
    formats = {key: (header, fmt) for key, header, fmt in STUDY_COLUMNS}
    headers = ['run', 'model', 'model arguments'] + [formats[key][0] for key in STUDY_RESULT_KEYS]
    cells = []
    for row in rows:
        values = [_number(row[key]) for key in STUDY_RESULT_KEYS]
        values = [value / 1e6 if key == 'flops' else value for key, value in zip(STUDY_RESULT_KEYS, values)]
        cells.append([f"`{row['run']}`", f"`{row['model']}`", _code_list(kwargs.get(row['run'], {})) or 'none']
                     + [formats[key][1].format(value) for key, value in zip(STUDY_RESULT_KEYS, values)])
    lines += [
        f'The study `{study.name}`, run by `{command}`: {_study_data(study)}. {purpose}; a run\'s model arguments are '
        "what it changes of the registered model. Parameters and FLOPs are the run's, at its input (the study's "
        f"{'x'.join(map(str, DATA_SETS[study.data_set].input_size))} unless the run sets an img_size); top-1 and "
        'top-5 are after the last epoch.',
        _table(headers, cells),
        f'The rows are {source}.',
    ]
    return '\n\n'.join(lines)


def _results_section(family: str, studies: Dict[Path, Study]) -> str:
    """ The family's runs of each study: the study that trained the weights first, then the others by name. """
    lines = ['## Results']
    if not studies:
        lines.append(f'No study results were given to `attnzoo cards`: {_run_command(family)}.')
        return '\n\n'.join(lines)
    ordered = sorted(studies, key=lambda path: (not _trained_the_weights(studies[path]), studies[path].name))
    lines += [_study_results(family, path, studies[path]) for path in ordered]
    return '\n\n'.join(lines)


def _trained_models(family: str, studies: Dict[Path, Study]) -> Optional[List[str]]:
    """ The family's models whose `fmnist_e30` weights a study of `studies` trained (its results.csv has their run),
    sorted; None when none of the studies is the training of the weights. """
    weight_studies = [path for path, study in studies.items() if _trained_the_weights(study)]
    if not weight_studies:
        return None
    trained = {row['model'] for path in weight_studies for row in _family_runs(family, path)}
    return [name for name in family_models(family) if name in trained]


def _weights_summary(count: int, trained: Optional[List[str]]) -> str:
    """ Which of a family's `count` models have Fashion-MNIST weights, `trained` as `_trained_models` gives it. """
    models, its = ('1 registered model', 'its') if count == 1 else (f'{count} registered models', 'their')
    weights = f'Fashion-MNIST weights (tag `{FASHION_MNIST_TAG}`)'
    if trained is None:
        return f'{models}; {its} {weights} are trained by `attnzoo study --preset full`'
    if len(trained) == count:
        return f'{models}, {"with" if count == 1 else "each with"} {weights}'
    if not trained:
        return f'{models}; {its} {weights} are not trained yet'
    names = ', '.join(f'`{name}`' for name in trained)
    return (f'{models}; {len(trained)} of them {"has" if len(trained) == 1 else "have"} {weights}, {names}, and the '
            'others are not trained yet')


def _variants_section(family: str, rows: List[Dict[str, Any]]) -> str:
    """ The variants' table (rows of `model_rows` for the weights tags), their weights and how to load them. """
    columns = {column.header: column for column in MODEL_COLUMNS}
    variants, weights = [], []
    for row in rows:
        architecture, tag = split_model_name_tag(row['model'])
        doc = ' '.join((model_entrypoint(architecture).__doc__ or '').split())
        variants.append([f'`{architecture}`', doc, row['attention'], columns['params'].cell(row),
                         columns['MFLOPs'].cell(row)])
        repo, config = hub_repo_id(architecture, tag), f'train_configs/fashion_mnist/{architecture}.yaml'
        weights.append([f'`{architecture}`', f"`{row['model']}`", f'[{repo}](https://huggingface.co/{repo})',
                        f'[{config}](../{config})'])
    example, tag = split_model_name_tag(rows[0]['model'])
    input_size = rows[0]['input_size']
    default_input = 'x'.join(map(str, timm.models.get_pretrained_cfg(example).input_size))
    return '\n\n'.join([
        '## Variants',
        f'Every registered model of `timm_attnzoo/models/{family}.py`, as its `{tag}` weights tag builds it: '
        f'{input_size} input, {len(FASHION_MNIST_LABELS)} classes. Descriptions are the model functions\' docstrings '
        f'(written for the default {default_input} CIFAR-10 input); parameters and FLOPs (batch 1, fvcore with '
        "timm_attnzoo's handles, docs/models.md) are what this command prints, and `attnzoo models` without names "
        f'lists them at {default_input}:',
        '```bash\nattnzoo models ' + ' '.join(row['model'] for row in rows) + '\n```',
        _table(['model', 'description', 'attention', 'params', 'MFLOPs'], variants),
        '## Weights and how to load them',
        _table(['model', 'weights tag', 'Hub repository', "timm's train.py configuration"], weights),
        '`timm_attnzoo` must be installed and imported first: it registers the architectures with timm, and without '
        f'it timm raises `RuntimeError: Unknown model ({example})`. The tag builds the model for {input_size} and '
        f'loads the weights from the Hub; the untagged name is the {default_input} CIFAR-10 architecture without '
        'weights.',
        '```python\nimport timm\nimport timm_attnzoo  # registers the models with timm\n\n'
        f"model = timm.create_model('{rows[0]['model']}', pretrained=True).eval()\n"
        f"model = timm.create_model('hf-hub:{hub_repo_id(example, tag)}', pretrained=True).eval()  # the same weights\n"
        'transform = timm.data.create_transform(**timm.data.resolve_model_data_config(model))\n```',
    ])


def _training_section(family: str) -> str:
    data = DATA_SETS['fashion_mnist']
    fixed_features = [name for name in family_models(family) if name in FASHION_MNIST_MODEL_KWARGS]
    performers = (
        f" The Performer models ({', '.join(f'`{name}`' for name in fixed_features)}) keep the random features they "
        'start with, `feature_redraw_interval=0` in their `model_kwargs` (`FASHION_MNIST_MODEL_KWARGS`): redrawn every '
        '1000 steps, the last redraw comes near the end of the schedule, where the learning rate leaves the model no '
        'time to adapt to it.' if fixed_features else '')
    own = ''.join(
        f' `{name}` changes some of its keys (`FASHION_MNIST_MODEL_RECIPES`): '
        f'{_code_list(FASHION_MNIST_MODEL_RECIPES[name])}; {FASHION_MNIST_MODEL_RECIPE_NOTES[name]}'
        for name in family_models(family) if name in FASHION_MNIST_MODEL_RECIPES)
    return '\n\n'.join([
        '## Training configuration',
        f'The `{FASHION_MNIST_TAG}` tag is for weights trained on {_fashion_mnist_summary()} with each variant\'s '
        "configuration for timm's own train.py, `train_configs/fashion_mnist/<model>.yaml` (linked above; "
        '`python train.py -c train_configs/fashion_mnist/<model>.yaml --data-dir DIR` after `attnzoo prepare-data`). '
        'All of them start from the shared recipe `FASHION_MNIST_RECIPE` of `timm_attnzoo/train_configs.py`: '
        f'{_code_list(FASHION_MNIST_RECIPE)}; input {"x".join(map(str, data.input_size))}, mean {list(data.mean)}, '
        f'std {list(data.std)}.{own}{performers} `attnzoo write-configs` writes the files. Each weights repository\'s '
        'own card records the configuration and results of the checkpoint it holds.',
    ])


def family_card(family: str, study_dirs: Sequence[Union[str, Path]] = ()) -> str:
    """ The Markdown card of a model family: front matter, architecture, papers, variants with their parameters and
    FLOPs, weights and how to load them, training configuration, the family's runs of the studies in `study_dirs`
    (folders with their results.csv and study.yaml), intended use, limitations and citations. """
    rows = model_rows([f'{name}.{FASHION_MNIST_TAG}' for name in family_models(family)])
    spec = FAMILIES[family]
    tags = [*COMMON_TAGS, *spec.tags, *(tag for row in rows for tag in _attention_tags(row['attention']))]
    studies = {Path(path): study_from_dict(yaml.safe_load((Path(path) / 'study.yaml').read_text()))
               for path in study_dirs}
    sections = [
        _front_matter(tags, 'fashion_mnist') + f'# {spec.title} (timm_attnzoo)',
        f'`timm_attnzoo/models/{spec.module}.py`: {_weights_summary(len(rows), _trained_models(family, studies))}. '
        'Written by `attnzoo cards`; every figure comes from a command named here.',
        '## Architecture\n\n' + spec.architecture,
        _papers_section(spec),
        _variants_section(spec.module, rows),
        _training_section(family),
        _results_section(spec.module, studies),
        f'## Intended use\n\n{INTENDED_USE} {spec.intended_use}',
        '## Limitations\n\n' + _bullets(_common_limitations(_fashion_mnist_summary()) + list(spec.limitations)),
        _citation_section(spec),
    ]
    return '\n\n'.join(sections) + '\n'


def copy_study_results(
        study_dirs: Sequence[Union[str, Path]], output_dir: Union[str, Path] = CARDS_DIR) -> List[Path]:
    """ Copy finished studies' results.csv and study.yaml to output_dir/results/<study name>/, removing any other
    study's copy there (the cards show the studies given); returns the copies' folders. """
    study_dirs = [Path(path) for path in study_dirs]
    for study_dir in study_dirs:
        missing = [name for name in STUDY_FILES if not (study_dir / name).is_file()]
        if missing:
            raise ValueError(
                f'study {study_dir} has no {" or ".join(missing)}: give the folder of a finished `attnzoo study` '
                '(results.csv is written when every run has finished).')
    names = [yaml.safe_load((study_dir / 'study.yaml').read_text())['name'] for study_dir in study_dirs]
    if len(set(names)) != len(names):
        raise ValueError(f'the studies given share a name: {names}; the cards keep one copy per study name.')
    results = Path(output_dir) / 'results'
    copies = [results / name for name in names]
    for study_dir, copy in zip(study_dirs, copies):
        if copy.resolve() != study_dir.resolve():
            copy.mkdir(parents=True, exist_ok=True)
            for file in STUDY_FILES:
                shutil.copyfile(study_dir / file, copy / file)
    for other in results.glob('*'):
        if other.is_dir() and other not in copies:
            shutil.rmtree(other)
    return copies


def copied_studies(output_dir: Union[str, Path] = CARDS_DIR) -> List[Path]:
    """ The studies copied to output_dir/results/ by an earlier `attnzoo cards --study`, by name. """
    return sorted(path for path in (Path(output_dir) / 'results').glob('*') if path.is_dir())


def write_family_cards(
        output_dir: Union[str, Path] = CARDS_DIR, study_dirs: Sequence[Union[str, Path]] = ()) -> List[Path]:
    """ Write `<family>.md` for every family into output_dir, with the results of `study_dirs` (copied to
    output_dir/results/ first) or, when none are given, of the copies already there; stale cards are removed,
    README.md is kept. """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    results = copy_study_results(study_dirs, output_dir) if study_dirs else copied_studies(output_dir)
    paths = []
    for family in FAMILIES:
        path = output_dir / f'{family}.md'
        path.write_text(family_card(family, results))
        paths.append(path)
    for stale in set(output_dir.glob('*.md')) - set(paths) - {output_dir / 'README.md'}:
        stale.unlink()
    return paths


# --- the card of one set of weights ------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """ A recorded configuration as YAML can write it: tuples as lists, anything unknown as its text. """
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _weights_tag(weights: TrainedWeights) -> Optional[str]:
    """ The zoo's tag ('vit_cifar.fmnist_e30') whose hf_hub_id is this repository, if any. """
    for name in timm.list_pretrained(f'{weights.architecture}.*'):
        if hub_repo_id(*split_model_name_tag(name)) == weights.repo_id:
            return name
    return None


def _model_details(weights: TrainedWeights, family: ModelFamily) -> str:
    cfg = weights.pretrained_cfg
    input_size = 'x'.join(map(str, cfg.get('input_size', ())))
    details = [
        f'Architecture: `{weights.architecture}` ({family.title}, `timm_attnzoo/models/{family.module}.py`); '
        f'attention layers: {weights.attention}',
        f'Model arguments (config.json `model_args`): `{weights.model_args}`',
        f'Parameters: {weights.params:,}',
        f'FLOPs: {weights.flops:,} ({weights.flops / 1e6:.2f} M) per {input_size} image, batch 1',
        f"Input: {input_size}, mean {list(cfg.get('mean', ()))}, std {list(cfg.get('std', ()))}",
    ]
    if cfg.get('label_names'):
        details.append(f"Classes ({len(cfg['label_names'])}): " + ', '.join(cfg['label_names']))
    elif cfg.get('num_classes'):
        details.append(f"Classes: {cfg['num_classes']}")
    if weights.run.data_set:
        details.append(f'Data set: {DATA_SET_TITLES.get(weights.run.data_set, weights.run.data_set)} (`{weights.run.data_set}`)')
    details.append(f'Weights: the {weights.weights} weights of `{weights.checkpoint}`')
    return '\n\n'.join([
        '## Model details',
        _bullets(details),
        "Parameters and FLOPs were measured by `attnzoo push` on the exported model with timm_attnzoo's fvcore "
        'counting (`timm_attnzoo.flops.count_flops`: a multiply-add is one FLOP, and the softmax, SDPA and '
        'elementwise ops fvcore skips are counted; docs/models.md).',
    ])


def _usage(weights: TrainedWeights) -> str:
    tag = _weights_tag(weights)
    code = ['import timm', 'import timm_attnzoo  # registers the models with timm', '',
            f"model = timm.create_model('hf-hub:{weights.repo_id}', pretrained=True).eval()"]
    if tag:
        code.append(f"model = timm.create_model('{tag}', pretrained=True).eval()  # the same weights, by their tag")
    code.append('transform = timm.data.create_transform(**timm.data.resolve_model_data_config(model))')
    return '\n\n'.join([
        '## Usage',
        '`timm_attnzoo` must be installed and imported first: it registers the architecture with timm, and without it '
        f'timm raises `RuntimeError: Unknown model ({weights.architecture})`.',
        '```python\n' + '\n'.join(code) + '\n```',
    ])


def _training(weights: TrainedWeights) -> str:
    if not weights.run.training_config:
        return '## Training configuration\n\nThe checkpoint came without a recorded training configuration.'
    config = yaml.safe_dump(_plain(weights.run.training_config), sort_keys=False)
    source = f', read from `{weights.run.training_config_file}`' if weights.run.training_config_file else ''
    return f'## Training configuration\n\nThe configuration the run recorded{source}:\n\n```yaml\n{config}```'


def _results(weights: TrainedWeights) -> str:
    lines = ['## Results']
    if not weights.run.results and not weights.run.metrics:
        lines.append('The checkpoint came without recorded evaluation results: this card reports none.')
        return '\n\n'.join(lines)
    if weights.run.results:
        keys = [key for key in RESULT_LABELS if key in weights.run.results]
        keys += [key for key in weights.run.results if key not in RESULT_LABELS]
        source = f', read from `{weights.run.results_file}`' if weights.run.results_file else ''
        lines += [f'Final results on the validation split as the run recorded them{source}:',
                  _table([RESULT_LABELS.get(key, key) for key in keys],
                         [[_format_value(key, weights.run.results[key]) for key in keys]])]
    if weights.run.metrics:
        columns = list(dict.fromkeys(key for row in weights.run.metrics for key in row))
        source = f', read from `{weights.run.metrics_file}`' if weights.run.metrics_file else ''
        cells = [[_format_value(key, row.get(key, '')) for key in columns] for row in weights.run.metrics]
        lines += [f'Per epoch{source}:', _table(columns, cells)]
    else:
        lines.append('No per-epoch metrics were recorded.')
    return '\n\n'.join(lines)


def model_card(weights: TrainedWeights) -> str:
    """ The README.md of a Hub repository of trained weights, from what `attnzoo push` read and measured. """
    family = FAMILIES[family_of(weights.architecture)]
    tags = [*COMMON_TAGS, *family.tags, *_attention_tags(weights.attention)]
    input_size = weights.pretrained_cfg.get('input_size')
    if weights.run.data_set:
        data = f"{DATA_SET_TITLES.get(weights.run.data_set, weights.run.data_set)} ({'x'.join(map(str, input_size or ()))})"
    else:
        data = 'the data set of its recorded configuration'
    sections = [
        _front_matter(tags, weights.run.data_set) + f'# {weights.repo_id}',
        f'`{weights.architecture}`, a model of timm_attnzoo\'s family {family.title} '
        f'(`timm_attnzoo/models/{family.module}.py`). {family.architecture}',
        _papers_section(family),
        _model_details(weights, family),
        _usage(weights),
        _training(weights),
        _results(weights),
        f'## Intended use\n\n{INTENDED_USE} {family.intended_use}',
        '## Limitations\n\n' + _bullets(_common_limitations(data) + list(family.limitations)),
        _citation_section(family),
    ]
    return '\n\n'.join(sections) + '\n'
