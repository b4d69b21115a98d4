""" The package's own view of timm's registry: every model that `timm_attnzoo` registered. """
from typing import List

import timm
from timm.models import model_entrypoint


def list_models() -> List[str]:
    """ Names of all models registered by `timm_attnzoo`, sorted. """
    return [name for name in timm.list_models() if model_entrypoint(name).__module__.startswith('timm_attnzoo.')]
