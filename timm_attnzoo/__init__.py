""" timm_attnzoo: efficient-attention vision models as timm models. Importing it registers them with timm. """
from . import models
from .models import EfficientAttentionViT
from .registry import list_models

__version__ = '0.1.0'
