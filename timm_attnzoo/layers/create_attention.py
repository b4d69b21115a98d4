""" Build any of the zoo's attention layers by name, with what it needs to know about the token layout. """
from functools import partial
from typing import Any, Callable, Dict, Sequence

import torch.nn as nn

from .dilated_linear import DilatedLinearAttention
from .linformer import LinformerAttention
from .nystrom import NystromAttention
from .performer import PerformerAttention
from .softmax_attention import SoftmaxAttention

ATTENTION_LAYERS: Dict[str, Callable[..., nn.Module]] = {
    'softmax': SoftmaxAttention,
    'linformer': LinformerAttention,
    'performer': partial(PerformerAttention, kernel='softmax'),
    'performer_relu': partial(PerformerAttention, kernel='relu'),
    'nystrom': NystromAttention,
    'dilated_linear': DilatedLinearAttention,
}


def check_attn_type(attn_type: str, argument: str = 'attn_type') -> str:
    if attn_type not in ATTENTION_LAYERS:
        raise ValueError(f'{argument}={attn_type!r} is not an attention type; choose from {sorted(ATTENTION_LAYERS)}.')
    return attn_type


def create_attention(
        attn_type: str,
        dim: int,
        num_heads: int,
        grid_size: Sequence[int],
        num_prefix_tokens: int,
        **kwargs: Any,
) -> nn.Module:
    """ An attention layer of `attn_type` for P prefix tokens followed by a (H, W) patch grid.

    kwargs are the layer's own arguments (qkv_bias, attn_drop, num_features, proj_dim, ...).
    """
    check_attn_type(attn_type)
    if attn_type == 'linformer':
        kwargs['seq_len'] = num_prefix_tokens + grid_size[0] * grid_size[1]
    elif attn_type == 'dilated_linear':
        kwargs.update(grid_size=tuple(grid_size), num_prefix_tokens=num_prefix_tokens)
    return ATTENTION_LAYERS[attn_type](dim, num_heads=num_heads, **kwargs)
