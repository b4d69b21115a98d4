""" The figures in the docs are the figures the commands produce. """
from pathlib import Path

import pytest

from timm_attnzoo.model_table import format_rows, model_rows
from timm_attnzoo.study.run import read_metrics

DOCS = Path(__file__).resolve().parents[1] / 'docs'


def test_models_doc_holds_the_table_that_attnzoo_models_prints():
    doc = (DOCS / 'models.md').read_text()
    table = format_rows(model_rows(), 'table')
    assert '\n'.join('    ' + line for line in table.splitlines()) in doc


def test_results_doc_holds_the_table_of_every_study_report_copied_beside_it():
    doc = (DOCS / 'results.md').read_text()
    reports = sorted((DOCS / 'figures').glob('*/results.md'))
    assert reports, 'docs/results.md shows the reports copied into docs/figures/<study>/'
    for report in reports:
        table = report.read_text().split('\n\n')[0]
        assert table in doc, f'docs/results.md does not hold the table of {report.relative_to(DOCS)}'
        for figure in report.parent.glob('*.png'):
            assert f'figures/{report.parent.name}/{figure.name}' in doc, f'{figure.name} is not shown'


def test_results_doc_holds_every_feature_draw_table_copied_beside_it():
    doc = (DOCS / 'results.md').read_text()
    tables = sorted((DOCS / 'figures').glob('*/feature_draws.md'))
    assert tables, 'docs/results.md shows the Performer feature-draw table (benchmarks/performer_feature_draws.py)'
    for table in tables:
        rows = table.read_text().split('\n\n')[1]
        assert rows in doc, f'docs/results.md does not hold the table of {table.relative_to(DOCS)}'


@pytest.mark.parametrize('heading, record', [
    ('### swin_cifar diverges under the shared recipe', 'swin_cifar_diverged'),
    ('### swin_cifar with its own recipe', 'swin_cifar_own_recipe'),
])
def test_results_doc_holds_the_swin_runs_by_epoch_as_their_records_have_them(heading, record):
    doc = (DOCS / 'results.md').read_text()
    section = doc.split(heading + '\n')[1].split('\n#')[0]
    rows = [line.split(' | ') for line in section.splitlines() if line[:3] in {f'| {i}' for i in range(1, 10)}]
    lines = (DOCS / 'figures' / record / 'run' / 'metrics.csv').read_text().split()
    header, *records = [line.split(',') for line in lines]
    assert len(rows) == len(records)
    for row, record in zip(rows, records):
        epoch = dict(zip(header, record))
        assert row[0] == f'| {int(epoch["epoch"]) + 1}'
        assert row[2:] == [f'{float(epoch[k]):.2f}' for k in ('train_loss', 'train_top1')] + [
            f'{float(epoch["val_top1"]):.2f} |']


def metrics_but_times(run_dir: Path) -> list:
    """ A run's metrics.csv rows without the epochs' times, which depend on the machine. """
    return [{key: value for key, value in row.items() if key != 'epoch_time_s'} for row in read_metrics(run_dir)]


def swin_first_and_later_epochs(later: str) -> tuple:
    """ docs/results.md, swin_cifar with its own recipe: the first run's epochs and a later run's (a record of
    swin_cifar_own_recipe/), which has the first's configuration and at most its epochs. """
    first, other = (DOCS / 'figures' / 'swin_cifar_own_recipe' / name for name in ('run', later))
    assert (other / 'config.yaml').read_text() == (first / 'config.yaml').read_text()
    first_epochs, later_epochs = metrics_but_times(first), metrics_but_times(other)
    assert 0 < len(later_epochs) <= len(first_epochs)
    return first_epochs[:len(later_epochs)], later_epochs


def test_the_second_swin_run_repeats_the_first_epoch_by_epoch():
    """ The run started again when its checkout was lost, on another machine, has the first run's metrics epoch by
    epoch to the last digit. """
    first_epochs, second_epochs = swin_first_and_later_epochs('rerun')
    assert second_epochs == first_epochs


def test_the_third_swin_run_repeats_the_first_to_its_kernels_rounding():
    """ The third run, on a machine whose kernels round otherwise, has the first run's lr and test top-1 and top-5
    epoch by epoch, its training top-1 to one image of the 59,904 an epoch trains on (468 batches of 128: the loader
    drops the last, partial one) and its losses to 1e-6. """
    first_epochs, third_epochs = swin_first_and_later_epochs('third_run')
    close = {'train_loss': 1e-6, 'val_loss': 1e-6, 'train_top1': 100 / (468 * 128)}
    for ours, theirs in zip(third_epochs, first_epochs):
        assert {k: v for k, v in ours.items() if k not in close} == {k: v for k, v in theirs.items() if k not in close}
        for key, tolerance in close.items():  # a hair over the tolerance: the two percentages' own float rounding
            assert ours[key] == pytest.approx(theirs[key], rel=0, abs=tolerance * 1.001), key
    assert third_epochs != first_epochs, 'the losses differ in their last digits, as the doc says'
