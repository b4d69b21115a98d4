""" hub_cards/: the committed family cards are what `attnzoo cards` writes from the committed copies of the studies,
their figures are the measured ones, and the card of one set of weights holds what its run recorded and nothing
else. """
import csv
import shutil
from dataclasses import fields
from pathlib import Path

import pytest
import timm
import yaml

from timm_attnzoo import model_cards
from timm_attnzoo.cli import main
from timm_attnzoo.constants import FASHION_MNIST_LABELS
from timm_attnzoo.flops import count_flops
from timm_attnzoo.model_cards import (
    TrainedWeights, TrainingRun, copied_studies, family_card, model_card, write_family_cards,
)
from timm_attnzoo.model_families import FAMILIES, family_models, family_of
from timm_attnzoo.study import load_study
from timm_attnzoo.train_configs import FASHION_MNIST_MODEL_KWARGS, FASHION_MNIST_MODEL_RECIPES

from .conftest import ZOO_MODELS

HUB_CARDS = Path(__file__).resolve().parents[1] / 'hub_cards'
FRONT_MATTER = dict(library_name='timm', license='apache-2.0', pipeline_tag='image-classification',
                    datasets=['zalando-datasets/fashion_mnist'], metrics=['accuracy'])


@pytest.fixture(scope='module')
def cards(tmp_path_factory, one_thread):
    """ Every family card written once from the committed study copies: FLOPs of every model are the slow part. """
    studies = copied_studies(HUB_CARDS)
    assert studies, 'hub_cards/results/ holds no study: run `attnzoo cards --study studies/<name> ...`'
    paths = write_family_cards(tmp_path_factory.mktemp('hub_cards'), studies)
    return {path.stem: path.read_text() for path in paths}


def front_matter(card: str) -> dict:
    assert card.startswith('---\n')
    return yaml.safe_load(card.split('---\n')[1])


def study_section(card: str, name: str) -> str:
    """ The part of a card's results under the heading of the study `name`. """
    return card.split(f'\n### {name}\n')[1].split('\n### ')[0].split('\n## ')[0]


def stand_in_rows(monkeypatch):
    """ Variants' rows without their FLOP counts (checked by test_variant_cells_are_the_counts_of_the_weights_model),
    for the tests of what the cards do with studies. """
    monkeypatch.setattr(model_cards, 'model_rows', lambda names: [
        dict(model=name, attention='none', params=1, flops=1, input_size='1x28x28') for name in names])


def table_row(card: str, first_cell: str) -> list:
    """ The cells of the first table row of `card` whose first cell is `first_cell`. """
    line = next(line for line in card.splitlines() if line.startswith(f'| {first_cell} |'))
    return [cell.strip() for cell in line.strip('|').split(' | ')]


def test_committed_cards_are_what_attnzoo_cards_writes(cards):
    committed = {path.stem: path.read_text() for path in HUB_CARDS.glob('*.md') if path.name != 'README.md'}
    assert sorted(committed) == sorted(cards) == sorted(FAMILIES)
    for family, card in cards.items():
        assert committed[family] == card, f'hub_cards/{family}.md is stale: run `attnzoo cards`'


def test_front_matter_has_the_hub_keys_and_the_attention_tags(cards):
    for family, card in cards.items():
        meta = front_matter(card)
        assert {key: meta[key] for key in FRONT_MATTER} == FRONT_MATTER
        assert {'image-classification', 'timm', 'timm_attnzoo', *FAMILIES[family].tags} <= set(meta['tags'])
    vit_tags = front_matter(cards['efficient_attention_vit'])['tags']
    assert {'linformer', 'performer', 'nystromformer', 'dilated-attention', 'linear-attention'} <= set(vit_tags)
    assert 'lambda-networks' in front_matter(cards['lambda_resnet'])['tags']
    assert {'window-attention', 'lambda-networks'} <= set(front_matter(cards['mixformer'])['tags'])
    assert 'window-attention' not in front_matter(cards['mlp_mixer'])['tags']


def test_every_registered_model_is_in_exactly_one_card(cards):
    assert {family_of(name) for name in ZOO_MODELS} == set(FAMILIES)
    for name in ZOO_MODELS:
        assert family_of(f'{name}.fmnist_e30') == family_of(name)
        assert [family for family, card in cards.items() if f'| `{name}` |' in card] == [family_of(name)]
    with pytest.raises(ValueError, match='not a model of timm_attnzoo'):
        family_of('resnet50')


@pytest.mark.parametrize('name', ['vit_nystrom_cifar', 'lambda_resnet_tiny_cifar'])
def test_variant_cells_are_the_counts_of_the_weights_model(cards, name):
    model = timm.create_model(f'{name}.fmnist_e30')
    assert model.pretrained_cfg['input_size'] == (1, 28, 28)
    cells = table_row(cards[family_of(name)], f'`{name}`')
    assert cells[3] == f'{sum(p.numel() for p in model.parameters()):,}'
    assert cells[4] == f'{count_flops(model, input_size=(1, 28, 28)) / 1e6:.2f}'
    card = cards[family_of(name)]
    command = next(line for line in card.splitlines() if line.startswith('attnzoo models '))
    assert f'{name}.fmnist_e30' in command.split()  # the command that prints these cells
    weights = table_row(card.split('## Weights')[1], f'`{name}`')
    assert weights[2] == f'[timm-attnzoo/{name}.fmnist_e30](https://huggingface.co/timm-attnzoo/{name}.fmnist_e30)'


def test_training_section_names_the_models_whose_configuration_is_not_just_the_shared_recipe(cards):
    for family, card in cards.items():
        section = card.split('## Training configuration')[1].split('\n## ')[0]
        named = [name for name in family_models(family) if f'`{name}`' in section]
        assert named == [name for name in family_models(family)
                         if name in FASHION_MNIST_MODEL_KWARGS or name in FASHION_MNIST_MODEL_RECIPES], family
        fixed_features = any(name in FASHION_MNIST_MODEL_KWARGS for name in named)
        assert ('`feature_redraw_interval=0`' in section) == fixed_features, family
        own_keys = [f'`{key}={value}`' for name in named for key, value in FASHION_MNIST_MODEL_RECIPES.get(name, {}).items()]
        assert all(key in section for key in own_keys), family
    assert len(FASHION_MNIST_MODEL_KWARGS) == 5 and list(FASHION_MNIST_MODEL_RECIPES) == ['swin_cifar']


def test_results_are_the_rows_of_the_committed_studies(cards):
    families = set()
    for study_dir in copied_studies(HUB_CARDS):
        study = yaml.safe_load((study_dir / 'study.yaml').read_text())
        with (study_dir / 'results.csv').open() as f:
            rows = list(csv.DictReader(f))
        train = (f"a fixed {study['train_samples']:,}-image subset" if study['train_samples']
                 else 'the whole training split')
        for row in rows:
            section = study_section(cards[family_of(row['model'])], study['name'])
            cells = table_row(section, f"`{row['run']}`")
            assert cells[1] == f"`{row['model']}`"
            assert cells[3:] == [f"{int(row['params']):,}", f"{int(row['flops']) / 1e6:.2f}", row['epochs'],
                                 f"{float(row['top1']):.2f}", f"{float(row['top5']):.2f}",
                                 f"{float(row['best_top1']):.2f}"]
            assert f"{study['recipe']['epochs']} epochs over {train}" in section
        families |= {family_of(row['model']) for row in rows}
    assert families == set(FAMILIES)  # the studies have a run of every family


def test_the_study_that_trained_the_weights_comes_first(cards):
    full, default = load_study('full').name, load_study('default').name
    assert [path.name for path in copied_studies(HUB_CARDS)] == sorted([full, default])
    for card in cards.values():
        results = card.split('## Results')[1].split('## Intended use')[0]
        assert [line[4:] for line in results.splitlines() if line.startswith('### ')] == [full, default]
        assert 'These are comparison runs' in study_section(card, default)
        section = study_section(card, full)
        assert ('Its runs trained the `fmnist_e30` weights' in section) == ('|' in section)


def test_the_first_line_names_the_models_with_trained_weights(cards):
    """ A card's first line says which of the family's models the study that trained the weights has a run of. """
    with (HUB_CARDS / 'results' / load_study('full').name / 'results.csv').open() as f:
        trained = {row['model'] for row in csv.DictReader(f)}
    for family, card in cards.items():
        first = next(line for line in card.splitlines() if line.startswith('`timm_attnzoo/models/'))
        models = family_models(family)
        have = [name for name in models if name in trained]
        assert f': {len(models)} registered model' in first
        if len(have) == len(models):
            assert 'with Fashion-MNIST weights' in first and 'not trained' not in first
        else:
            assert 'not trained yet' in first and (f'{len(have)} of them' in first) == bool(have)
            assert all(f'`{name}`' in first for name in have)


def test_a_study_without_runs_of_a_family_names_the_command_that_adds_them(tmp_path, monkeypatch):
    stand_in_rows(monkeypatch)
    full = HUB_CARDS / 'results' / load_study('full').name
    with (full / 'results.csv').open() as f:
        reader = csv.DictReader(f)
        vit_cifar = next(row for row in reader if row['run'] == 'vit_cifar')
        with (tmp_path / 'results.csv').open('w', newline='') as out:
            writer = csv.DictWriter(out, reader.fieldnames)
            writer.writeheader()
            writer.writerow(vit_cifar)
    (tmp_path / 'study.yaml').write_text(yaml.safe_dump(load_study('full', ['vit_cifar']).to_dict()))

    vit_card = family_card('efficient_attention_vit', [tmp_path])
    vits = len(family_models('efficient_attention_vit'))
    assert (f'`timm_attnzoo/models/efficient_attention_vit.py`: {vits} registered models; 1 of them has Fashion-MNIST '
            'weights (tag `fmnist_e30`), `vit_cifar`, and the others are not trained yet.') in vit_card
    vit = study_section(vit_card, 'fashion_mnist_full')
    assert 'run by `attnzoo study --preset full --models vit_cifar`' in vit
    assert 'Its runs trained the `fmnist_e30` weights' in vit and table_row(vit, '`vit_cifar`')[6] == \
        f"{float(vit_cifar['top1']):.2f}"
    perceiver_card = family_card('perceiver', [tmp_path])
    assert ('`timm_attnzoo/models/perceiver.py`: 2 registered models; their Fashion-MNIST weights (tag `fmnist_e30`) '
            'are not trained yet.') in perceiver_card
    perceiver = study_section(perceiver_card, 'fashion_mnist_full')
    command = 'attnzoo study --preset full --models vit_cifar ' + ' '.join(family_models('perceiver'))
    assert f'has no run of this family yet: `{command}` adds them.' in perceiver and '|' not in perceiver


def test_family_card_without_a_study_says_so_and_names_the_command(one_thread):
    card = family_card('mlp_mixer')
    assert ('`timm_attnzoo/models/mlp_mixer.py`: 1 registered model; its Fashion-MNIST weights (tag `fmnist_e30`) are '
            'trained by `attnzoo study --preset full`.') in card
    results = card.split('## Results')[1].split('## Intended use')[0]
    assert 'No study results' in results and '`attnzoo study --preset default` trains `mixer_small`' in results
    assert '|' not in results
    with pytest.raises(ValueError, match='family='):
        family_card('mixer')


def test_cards_command_copies_the_studies_then_reuses_the_copies(tmp_path, monkeypatch, capsys):
    stand_in_rows(monkeypatch)
    studies = []
    for copy in copied_studies(HUB_CARDS):
        study = tmp_path / 'studies' / copy.name
        study.mkdir(parents=True)
        for name in ('results.csv', 'study.yaml'):
            shutil.copyfile(copy / name, study / name)
        studies.append(study)
    output = tmp_path / 'cards'
    (output / 'results' / 'older_study').mkdir(parents=True)
    (output / 'renamed_family.md').write_text('stale')
    (output / 'README.md').write_text('kept')

    main(['cards', '--study', *map(str, studies), '--output', str(output)])
    assert f'{len(FAMILIES)} family cards in {output}' in capsys.readouterr().out
    written = {path.name: path.read_text() for path in output.glob('*.md')}
    assert sorted(written) == sorted(['README.md'] + [f'{family}.md' for family in FAMILIES])
    assert sorted(path.name for path in (output / 'results').iterdir()) == sorted(path.name for path in studies)
    for study in studies:
        assert (output / 'results' / study.name / 'results.csv').read_bytes() == (study / 'results.csv').read_bytes()

    shutil.rmtree(tmp_path / 'studies')
    main(['cards', '--output', str(output)])
    assert {path.name: path.read_text() for path in output.glob('*.md')} == written
    with pytest.raises(ValueError, match='no results.csv'):
        write_family_cards(output, [tmp_path / 'studies'])
    with pytest.raises(ValueError, match='share a name'):
        write_family_cards(output, [output / 'results' / studies[0].name] * 2)


STUDY_METRICS = [  # metrics.csv of a study run, as read_metrics returns it
    dict(epoch=0, lr=0.002, epoch_time_s=41.25, train_loss=1.734, train_top1=38.41, val_loss=1.212, val_top1=61.18,
         val_top5=97.95),
    dict(epoch=1, lr=0.001005, epoch_time_s=39.87, train_loss=1.108, train_top1=66.72, val_loss=0.9413, val_top1=70.33,
         val_top5=98.1),
]
TRAIN_PY_SUMMARY = [  # timm train.py's summary.csv, read as text
    dict(epoch='0', train_loss='2.013', eval_loss='1.456', eval_top1='55.27', eval_top5='96.81', lr='0.0005'),
    dict(epoch='1', train_loss='1.387', eval_loss='1.021', eval_top1='68.94', eval_top5='97.7', lr='0.00025'),
]
PRETRAINED_CFG = dict(
    input_size=(1, 28, 28), mean=(0.286,), std=(0.353,), num_classes=10, label_names=FASHION_MNIST_LABELS)


def trained_weights(**kwargs) -> TrainedWeights:
    """ Made-up weights of a vit_cifar run; keyword arguments replace fields of the weights or of their run. """
    run_fields = {f.name for f in fields(TrainingRun)} - {'architecture', 'model_args'}
    run = dict(architecture='vit_cifar', model_args=dict(img_size=28, in_chans=1, num_classes=10),
               data_config=dict(input_size=(1, 28, 28)), data_set='fashion_mnist')
    run.update({key: value for key, value in kwargs.items() if key in run_fields})
    weights = dict(
        repo_id='timm-attnzoo/vit_cifar.fmnist_e30', architecture='vit_cifar', model_args=run['model_args'],
        pretrained_cfg=PRETRAINED_CFG, params=123457, flops=7654321, attention='SoftmaxAttention',
        checkpoint='studies/fashion_mnist_default/vit_cifar/weights', weights='model')
    weights.update({key: value for key, value in kwargs.items() if key not in run_fields})
    return TrainedWeights(**weights, run=TrainingRun(**run))


def epoch_line(values) -> str:
    return '| ' + ' | '.join(str(value) for value in values) + ' |'


def test_model_card_of_a_study_run_holds_its_numbers_config_and_epochs():
    config = dict(run=dict(name='vit_cifar', model='vit_cifar', kwargs={}), train_samples=6400,
                  recipe=dict(epochs=2, lr=0.002, scale=(0.75, 1.0)))
    card = model_card(trained_weights(
        training_config=config, training_config_file='studies/x/vit_cifar/config.yaml', metrics=STUDY_METRICS,
        metrics_file='studies/x/vit_cifar/metrics.csv', results_file='studies/x/vit_cifar/summary.json',
        results=dict(epochs=2, top1=70.33, top5=98.12, best_top1=70.33, train_time_s=81.12)))
    meta = front_matter(card)
    assert meta['datasets'] == ['zalando-datasets/fashion_mnist'] and 'timm_attnzoo' in meta['tags']
    assert 'performer' not in meta['tags'] and 'vision-transformer' in meta['tags']
    assert '# timm-attnzoo/vit_cifar.fmnist_e30' in card
    assert 'Parameters: 123,457' in card and '7,654,321' in card and 'Ankle boot' in card
    assert "timm.create_model('hf-hub:timm-attnzoo/vit_cifar.fmnist_e30', pretrained=True)" in card
    assert "timm.create_model('vit_cifar.fmnist_e30', pretrained=True)" in card
    assert 'Unknown model (vit_cifar)' in card
    block = card.split('```yaml\n')[1].split('```')[0]
    assert yaml.safe_load(block) == dict(config, recipe=dict(epochs=2, lr=0.002, scale=[0.75, 1.0]))
    assert 'studies/x/vit_cifar/config.yaml' in card and 'studies/x/vit_cifar/metrics.csv' in card
    assert epoch_line(['top-1 (%)', 'top-5 (%)', 'best top-1 (%)', 'epochs', 'training time (s)']) in card
    assert epoch_line([70.33, 98.12, 70.33, 2, 81.12]) in card
    assert epoch_line(STUDY_METRICS[0].values()) in card
    assert epoch_line([1, 0.001005, 39.87, 1.108, 66.72, 0.9413, 70.33, '98.10']) in card  # accuracies to 2 decimals
    assert 'came without' not in card


def test_model_card_of_a_train_py_run_reads_its_summary_rows():
    card = model_card(trained_weights(
        repo_id='someone/performer-fmnist', architecture='vit_performer_cifar', attention='PerformerAttention',
        metrics=TRAIN_PY_SUMMARY,
        results=dict(epochs=2, checkpoint_epoch=1, top1=68.94, top5=97.7), results_file='output/summary.csv'))
    assert 'performer' in front_matter(card)['tags']
    assert "timm.create_model('hf-hub:someone/performer-fmnist', pretrained=True)" in card
    assert "'vit_performer_cifar.fmnist_e30'" not in card  # not that tag's repository
    assert epoch_line(['epoch', 'train_loss', 'eval_loss', 'eval_top1', 'eval_top5', 'lr']) in card
    assert epoch_line(['0', '2.013', '1.456', '55.27', '96.81', '0.0005']) in card
    assert epoch_line([1, 1.387, 1.021, 68.94, '97.70', 0.00025]) in card
    assert epoch_line([68.94, '97.70', 2, 1]) in card and 'output/summary.csv' in card
    assert 'without a recorded training configuration' in card


def test_model_card_without_recorded_results_reports_none():
    card = model_card(trained_weights(data_set=None))
    results = card.split('## Results')[1].split('## Intended use')[0]
    assert 'came without recorded evaluation results' in results and '|' not in results
    assert 'datasets' not in front_matter(card)
