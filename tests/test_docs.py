""" The figures in the docs are the figures the commands produce. """
from pathlib import Path

from timm_attnzoo.model_table import format_rows, model_rows

DOCS = Path(__file__).resolve().parents[1] / 'docs'


def test_models_doc_holds_the_table_that_attnzoo_models_prints():
    doc = (DOCS / 'models.md').read_text()
    table = format_rows(model_rows(), 'table')
    assert '\n'.join('    ' + line for line in table.splitlines()) in doc
