""" FLOP counts of the zoo's models and attention layers with fvcore's `FlopCountAnalysis`.

fvcore counts matmul, linear, conv, einsum and the norms, and drops every other op: elementwise
arithmetic, reductions, softmax and `scaled_dot_product_attention` are unsupported, and its ignore list
even hides some ops that cost FLOPs (aten::max, aten::relu, aten::clamp). Those are the FLOPs that tell
the efficient attentions apart, so this module gives them handles.

Convention:
  * a multiply-add counts as one FLOP (fvcore's convention for matmul/linear/conv/einsum; bias adds are
    not counted, as fvcore does);
  * every other elementwise arithmetic op counts one per output element (add, sub, mul, div, exp, gelu,
    elu, relu, neg, pow, sqrt, rsqrt, sigmoid, clamp ...);
  * reductions (sum, mean, amax, max) count one per input element, and so does avg_pool2d (as fvcore counts
    adaptive_avg_pool2d);
  * softmax counts 5 per element (max, subtract, exp, sum, divide);
  * layer_norm keeps fvcore's own count (5 per element with affine);
  * `aten::scaled_dot_product_attention` with q (..., L, E), k (..., S, E), v (..., S, Ev) counts
    L*S*E (QK^T) + L*S (scaling) + 5*L*S (softmax) + L*S*Ev (AV), plus L*S for an additive float mask (a
    relative position bias), times the batch/head dims (the broadcast shape of the leading dims of q and k);
  * `aten::index_add_` / `aten::index_add` counts the numel of the source.
Pure data movement, integer and boolean ops cost 0 and stay ignored (view, reshape, permute, cat, expand,
slice, pad, arange, to, masked_fill, ...); so does integer arithmetic on shapes and indices.
`aten::einsum` is recounted exactly: fvcore reads the cost off the text numpy's `einsum_path` prints (four
significant digits, and twice the multiply-adds for some equations), so lambda layers came out near 2x.
`aten::matmul` is recounted with broadcasting: fvcore's handle multiplies the first operand's numel by
the output width, which misses the batch dims when only the second operand has them ((k, n) @ (B, h, n, d)
in Linformer).
"""
from collections import Counter
from math import prod
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from fvcore.nn import FlopCountAnalysis

__all__ = ['ZERO_COST_OPS', 'count_flops', 'flop_count_analysis', 'unsupported_ops']

Handle = Callable[[List[Any], List[Any]], int]
Inputs = Union[torch.Tensor, Tuple[torch.Tensor, ...]]

ZERO_COST_OPS = (
    'aten::__or__',  # boolean masks
    'aten::clone',  # copy
    'aten::dropout_',  # identity in eval mode (TNT's in-place dropout)
    'aten::eye',  # constant construction (Nystrom pinv identity)
    'aten::im2col',  # unfold into patches (TNT's pixel embedding)
    'aten::numpy_T',  # `.T`, a view
    'aten::pad',  # zero padding (dilated windows)
    'aten::repeat',  # copy
)


def _shape(value: Any) -> Optional[List[int]]:
    """ Shape of a traced tensor value, None for anything else (ints, lists, None). """
    if isinstance(value.type(), torch._C.TensorType) and value.isCompleteTensor():
        return value.type().sizes()
    return None


def _is_float(value: Any) -> bool:
    """ True for floating-point tensors: integer and boolean tensors (shapes, indices, masks) cost nothing. """
    return _shape(value) is not None and value.type().dtype().is_floating_point


def _elementwise(inputs: List[Any], outputs: List[Any]) -> int:
    """ One FLOP per output element. """
    return prod(_shape(outputs[0])) if _is_float(outputs[0]) else 0


def _reduction(inputs: List[Any], outputs: List[Any]) -> int:
    """ One FLOP per input element. """
    return prod(_shape(inputs[0])) if _is_float(inputs[0]) else 0


def _max_min(inputs: List[Any], outputs: List[Any]) -> int:
    """ aten::max / aten::min: a reduction, or elementwise when the second argument is a tensor. """
    if len(inputs) == 2 and _shape(inputs[1]) is not None:
        return _elementwise(inputs, outputs)
    return _reduction(inputs, outputs)


def _softmax(inputs: List[Any], outputs: List[Any]) -> int:
    """ 5 per element: max, subtract, exp, sum, divide. """
    return 5 * _reduction(inputs, outputs)


def _matmul(inputs: List[Any], outputs: List[Any]) -> int:
    """ Multiply-adds of torch.matmul with broadcast batch dims and 1-D operands. """
    a, b = _shape(inputs[0]), _shape(inputs[1])
    a = [1] + a if len(a) == 1 else a  # a vector is a row on the left ...
    b = b + [1] if len(b) == 1 else b  # ... and a column on the right
    batch = torch.broadcast_shapes(torch.Size(a[:-2]), torch.Size(b[:-2]))
    return prod(batch) * a[-2] * a[-1] * b[-1]


def _scaled_dot_product_attention(inputs: List[Any], outputs: List[Any]) -> int:
    """ QK^T, scaling, an additive float mask, 5-per-element softmax and AV for q (..., L, E), k (..., S, E),
    v (..., S, Ev); a boolean mask selects and costs nothing. """
    q, k, v = (_shape(x) for x in inputs[:3])
    L, E, S, Ev = q[-2], q[-1], k[-2], v[-1]
    batch = torch.broadcast_shapes(torch.Size(q[:-2]), torch.Size(k[:-2]))
    mask_add = L * S if len(inputs) > 3 and _is_float(inputs[3]) else 0
    return prod(batch) * (L * S * E + L * S + mask_add + 5 * L * S + L * S * Ev)


def _einsum(inputs: List[Any], outputs: List[Any]) -> int:
    """ Multiply-adds of an einsum contracted left to right: each pairwise step costs the product of the sizes of
    every index of its two operands; a single operand is a reduction, one per element. """
    equation = inputs[0].toIValue().replace(' ', '')
    if '...' in equation:
        raise NotImplementedError(f'einsum with an ellipsis is not counted: {equation}')
    operands, output = equation.split('->')
    terms = operands.split(',')
    shapes = [_shape(v) for v in inputs[1].node().inputs()]
    sizes = {index: size for term, shape in zip(terms, shapes) for index, size in zip(term, shape)}
    if len(terms) == 1:
        return prod(sizes[i] for i in terms[0])
    flops, current = 0, terms[0]
    for position, term in enumerate(terms[1:], start=1):
        flops += prod(sizes[i] for i in set(current) | set(term))
        still_needed = set(output).union(*terms[position + 1:])
        current = ''.join(i for i in dict.fromkeys(current + term) if i in still_needed)
    return flops


def _index_add(inputs: List[Any], outputs: List[Any]) -> int:
    """ One add per source element: index_add(self, dim, index, source). """
    return prod(_shape(inputs[3])) if _is_float(inputs[3]) else 0


_ELEMENTWISE_OPS = (
    'abs', 'add', 'add_', 'clamp', 'clamp_', 'clamp_min', 'div', 'div_', 'elu', 'exp', 'exp_', 'gelu', 'log',
    'maximum', 'minimum', 'mul', 'mul_', 'neg', 'pow', 'reciprocal', 'relu', 'relu_', 'rsqrt', 'rsub',
    'sigmoid', 'silu', 'sqrt', 'square', 'sub', 'sub_', 'tanh',
)
_REDUCTION_OPS = ('amax', 'amin', 'avg_pool2d', 'mean', 'sum')

OP_HANDLES: Dict[str, Handle] = {
    **{f'aten::{op}': _elementwise for op in _ELEMENTWISE_OPS},
    **{f'aten::{op}': _reduction for op in _REDUCTION_OPS},
    'aten::max': _max_min,
    'aten::min': _max_min,
    'aten::softmax': _softmax,
    'aten::einsum': _einsum,
    'aten::matmul': _matmul,
    'aten::scaled_dot_product_attention': _scaled_dot_product_attention,
    'aten::index_add': _index_add,
    'aten::index_add_': _index_add,
}


def flop_count_analysis(model: nn.Module, inputs: Inputs) -> FlopCountAnalysis:
    """ fvcore's analysis of `model(*inputs)` with the zoo's handles and zero-cost ops set. """
    analysis = FlopCountAnalysis(model, inputs)
    analysis.set_op_handle(**OP_HANDLES)
    analysis.set_op_handle(**{op: None for op in ZERO_COST_OPS})
    analysis.uncalled_modules_warnings(False)
    return analysis


def _example_input(model: nn.Module, input_size: Sequence[int], batch_size: int) -> torch.Tensor:
    param = next(model.parameters(), None)
    device, dtype = (param.device, param.dtype) if param is not None else (None, None)
    return torch.zeros(batch_size, *input_size, device=device, dtype=dtype)


def _analyze(model: nn.Module, input_size: Sequence[int], batch_size: int) -> FlopCountAnalysis:
    """ Analysis of an inference forward of `model`, in eval mode without autograd, on zeros of
    (batch_size, *input_size); the mode is restored. (Work done only for the backward, such as the term that carries
    the Nystrom pseudo-inverse's gradient, is not a forward FLOP.)

    A forward runs first, untraced, so what a model builds once per input size and keeps (the Perceiver's
    Fourier features) is not counted as if every step paid for it.
    """
    was_training = model.training
    model.eval()
    try:
        x = _example_input(model, input_size, batch_size)
        with torch.no_grad():
            model(x)
            analysis = flop_count_analysis(model, x)
            analysis.total()  # trace now, while in eval mode
    finally:
        model.train(was_training)
    return analysis


def count_flops(model: nn.Module, input_size: Sequence[int] = (3, 32, 32), batch_size: int = 1) -> int:
    """ Total FLOPs of `model` in eval mode on a (batch_size, *input_size) input.

    input_size is (C, H, W) for a model, (N, C) for an attention layer on tokens.
    """
    return int(_analyze(model, input_size, batch_size).total())


def unsupported_ops(model: nn.Module, input_size: Sequence[int] = (3, 32, 32), batch_size: int = 1) -> Counter:
    """ Ops the analysis met with neither a handle nor a place in an ignore list: empty when nothing is dropped. """
    return Counter(_analyze(model, input_size, batch_size).unsupported_ops())
