""" Attention maps of every mechanism in the zoo: what each layer of a model attends to, as tensors.

Each attention layer of the zoo implies a matrix A with output = A V (see `QKVAttention`): for softmax
attention the attention itself, for Linformer softmax(Q (E K)^T / sqrt(d)) F, for the Performer
phi(Q) phi(K)^T normalized by rows, for Nystromformer the three-factor product plus its convolution on V,
for the dilated hybrid the window softmax and the linear heads' kernel. Forward pre-hooks read each layer's
input during one forward of the model and ask the layer for its own matrix, so nothing of a model's
forward is copied. What the rows and columns are depends on the family:
  * token models (the ViTs, TNT's outer attention): (N, N) over prefix tokens + the patch grid;
  * window attention (MixFormer, Swin; MixFormer-Lambda's lambda layers on windows): each window's matrix
    scattered into the (H W, H W) matrix of the whole map, undoing Swin's cyclic shift and the padding;
  * lambda layers (Lambda-ResNet): (H W, H W) over the feature map, by default only the position lambdas'
    weights q_n . E_nm ('LambdaNetworks', Bello 2021, Sec. 3), summed over the intra-depth u;
  * the Perceiver: the latents' cross-attention over the input pixels, (num_latents, H W).
timm's Swin `WindowAttention` and TNT `Attention` have no such method; their softmax is computed here
from their own projections (`_timm_window_attention`, `_timm_tnt_attention`).

Rollout ('Quantifying Attention Flow in Transformers', Abnar and Zuidema 2020, Sec. 3): the product over
layers of 0.5 A + 0.5 I (heads averaged, rows renormalized), for models whose layers share one token set.
"""
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import matplotlib
matplotlib.use('Agg')  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import torch
import torch.nn as nn
from PIL import Image
from timm.data import create_transform, resolve_model_data_config
from timm.models.swin_transformer import SwinTransformerBlock, WindowAttention as TimmWindowAttention
from timm.models.tnt import Attention as TNTAttention

from .layers import CrossAttention, LambdaLayer, QKVAttention, SoftmaxAttention, WindowAttention
from .models.mixformer import MixingBlock

LAMBDA_PARTS = ('position', 'content', 'both')


@dataclass
class AttentionMap:
    """ One layer's attention for one forward: `matrix` (B, heads, queries, keys).

    Keys are `num_prefix_tokens` tokens followed by the `key_grid` (H, W) in row-major order; queries are
    the same tokens when `query_grid` is set, otherwise a set without a grid (the Perceiver's latents).
    """
    name: str
    matrix: torch.Tensor
    key_grid: Tuple[int, int]
    query_grid: Optional[Tuple[int, int]]
    num_prefix_tokens: int = 0


def _token_grid(num_grid_tokens: int, image_size: Tuple[int, int]) -> Tuple[int, int]:
    """ The (rows, cols) of square patches covering an image with `num_grid_tokens` of them. """
    patch = math.sqrt(image_size[0] * image_size[1] / num_grid_tokens)
    grid = (round(image_size[0] / patch), round(image_size[1] / patch))
    if grid[0] * grid[1] != num_grid_tokens:
        raise ValueError(f'{num_grid_tokens} tokens do not tile an image of size {image_size} with square patches.')
    return grid


def _windows_to_map(
        windows: torch.Tensor,
        window_size: Tuple[int, int],
        grid: Tuple[int, int],
        shift: Tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """ (B * num_windows, h, w, w) per-window matrices of a map padded to whole windows and cyclically shifted
    by -shift (Swin's order) -> (B, h, H W, H W) over the unshifted, unpadded map; zero across windows. """
    H, W = grid
    win_h, win_w = window_size
    padded = (math.ceil(H / win_h) * win_h, math.ceil(W / win_w) * win_w)
    num_windows = (padded[0] // win_h) * (padded[1] // win_w)
    B = windows.shape[0] // num_windows
    # flat index in the padded map of every window's tokens, in window_partition's order
    index = torch.arange(padded[0] * padded[1], device=windows.device).reshape(
        padded[0] // win_h, win_h, padded[1] // win_w, win_w).permute(0, 2, 1, 3).reshape(num_windows, win_h * win_w)
    full = windows.new_zeros(B, windows.shape[1], padded[0] * padded[1], padded[0] * padded[1])
    full[:, :, index[:, :, None], index[:, None, :]] = windows.reshape(B, num_windows, *windows.shape[1:]).transpose(1, 2)
    # where each position of the unshifted map sits in the shifted, padded one
    rows = (torch.arange(H, device=windows.device) - shift[0]) % H
    cols = (torch.arange(W, device=windows.device) - shift[1]) % W
    order = (rows[:, None] * padded[1] + cols[None, :]).reshape(-1)
    return full[:, :, order][:, :, :, order]


def _timm_window_attention(attn: TimmWindowAttention, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """ timm Swin's softmax(q k^T / sqrt(d) + B + mask) per window, (B * num_windows, h, w, w). """
    B_, N, _ = x.shape
    q, k, _ = attn.qkv(x).reshape(B_, N, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    scores = q @ k.transpose(-2, -1) * attn.scale + attn._get_rel_pos_bias()
    if mask is not None:
        scores = (scores.view(-1, mask.shape[0], attn.num_heads, N, N) + mask[None, :, None]).view(B_, -1, N, N)
    return scores.softmax(dim=-1)


def _timm_tnt_attention(attn: TNTAttention, x: torch.Tensor) -> torch.Tensor:
    """ timm TNT's softmax(q k^T / sqrt(d)), (B, h, N, N). """
    B, N, _ = x.shape
    q, k = attn.qk(x).reshape(B, N, 2, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    return (q @ k.transpose(-2, -1) * attn.scale).softmax(dim=-1)


class _MapRecorder:
    """ Forward pre-hooks that turn each attention layer's input into an `AttentionMap`. """

    def __init__(self, model: nn.Module, image_size: Tuple[int, int], lambda_part: str) -> None:
        self.image_size = image_size
        self.lambda_part = lambda_part
        self.num_prefix_tokens = getattr(model, 'num_prefix_tokens', 0)
        self.maps: List[AttentionMap] = []
        self.block: Dict[str, Any] = {}  # the windowed block being run: its map size and shift
        self.handles = []
        for name, module in model.named_modules():
            hook = self._hook_for(name, module)
            if hook is not None:
                self.handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))

    def _hook_for(self, name: str, module: nn.Module) -> Optional[Callable]:
        if isinstance(module, MixingBlock):
            return self._enter_block(module.window_size, (0, 0))
        if isinstance(module, SwinTransformerBlock):
            return self._enter_block(module.window_size, module.shift_size)
        if isinstance(module, (WindowAttention, TimmWindowAttention)):
            return self._record(name, self._window_map(module))
        if isinstance(module, LambdaLayer):
            return self._record(name, self._lambda_map(module, windowed=module.feat_size is not None))
        if isinstance(module, CrossAttention):
            return self._record(name, self._cross_map(module))
        if isinstance(module, (QKVAttention, SoftmaxAttention)):
            return self._record(name, self._token_map(lambda x: module.attention_matrix(*module.split_heads(x)[:2])))
        if isinstance(module, TNTAttention) and name.endswith('attn_out'):  # among patches; attn_in is within one
            return self._record(name, self._token_map(lambda x: _timm_tnt_attention(module, x)))
        return None

    def _enter_block(self, window_size, shift) -> Callable:
        def hook(module, args, kwargs):
            self.block = dict(grid=tuple(args[0].shape[1:3]), window_size=tuple(window_size), shift=tuple(shift))
        return hook

    def _record(self, name: str, make_map: Callable) -> Callable:
        def hook(module, args, kwargs):
            attention_map = make_map(*args, **kwargs)
            if attention_map is not None:
                calls = sum(m.name.split('#')[0] == name for m in self.maps)
                attention_map.name = name if not calls else f'{name}#{calls}'
                self.maps.append(attention_map)
        return hook

    def _token_map(self, matrix_of: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
        def make_map(x, *args, **kwargs):
            grid = _token_grid(x.shape[1] - self.num_prefix_tokens, self.image_size)
            return AttentionMap('', matrix_of(x), grid, grid, self.num_prefix_tokens)
        return make_map

    def _window_map(self, module: nn.Module) -> Callable:
        def make_map(x, mask=None):
            if isinstance(module, WindowAttention):
                windows = module.attention_matrix(*module.split_heads(x)[:2])
            else:
                windows = _timm_window_attention(module, x, mask)
            grid = self.block['grid']
            matrix = _windows_to_map(windows, self.block['window_size'], grid, self.block['shift'])
            return AttentionMap('', matrix, grid, grid)
        return make_map

    def _lambda_map(self, module: LambdaLayer, windowed: bool) -> Callable:
        def make_map(x):
            feat_size = tuple(x.shape[-2:])
            q, k, _ = module.split_heads(x)
            matrix = module.attention_matrix(q, k, feat_size, part=self.lambda_part)
            M = feat_size[0] * feat_size[1]
            matrix = matrix.reshape(*matrix.shape[:3], -1, M).sum(dim=3)  # summed over the intra-depth u
            if windowed and self.block:
                grid = self.block['grid']
                return AttentionMap('', _windows_to_map(matrix, feat_size, grid, self.block['shift']), grid, grid)
            return AttentionMap('', matrix, feat_size, feat_size)
        return make_map

    def _cross_map(self, module: CrossAttention) -> Callable:
        def make_map(x, context=None):
            if context is None or context.shape[1] != self.image_size[0] * self.image_size[1]:
                return None  # latent self-attention, or a decoder query over the latents: not over pixels
            q, k, _ = module.split_heads(x, context)
            return AttentionMap('', module.attention_matrix(q, k), self.image_size, None)
        return make_map

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


@torch.no_grad()
def attention_maps(model: nn.Module, x: torch.Tensor, lambda_part: str = 'position') -> List[AttentionMap]:
    """ The attention map of every attention layer of `model` on images x (B, C, H, W), in call order.

    A layer called more than once (the Perceiver's shared cross-attention) gives a map per call, named
    '<layer>#<call>'. The model runs in eval mode; its mode is restored.

    Args:
        model: A model of the zoo, or timm's Swin or TNT.
        x: Input images, normalized as the model expects.
        lambda_part: For lambda layers, 'position' (the position lambdas' weights q_n . E_nm), 'content'
            (q_n . softmax(K)_m) or 'both' (their sum, the matrix whose product with V is the output).
    """
    if lambda_part not in LAMBDA_PARTS:
        raise ValueError(f'lambda_part={lambda_part!r} is not one of {LAMBDA_PARTS}.')
    recorder = _MapRecorder(model, tuple(x.shape[-2:]), lambda_part)
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        recorder.remove()
        model.train(was_training)
    if not recorder.maps:
        raise ValueError(f'{type(model).__name__} has no attention layer to map (MLP-Mixer and ResNet mix without one).')
    return recorder.maps


def attention_rollout(maps: List[AttentionMap]) -> AttentionMap:
    """ Abnar and Zuidema's rollout through `maps` of one token set, as a one-head map: row n the flow into token n.

    Implied matrices of the efficient mechanisms can have negative entries (Nystromformer) or rows that do
    not sum to one (Linformer); rollout renormalizes rows of |0.5 A + 0.5 I|.
    """
    if any(m.query_grid is None for m in maps) or len({m.matrix.shape[-2:] for m in maps}) != 1:
        raise ValueError('attention rollout needs every layer to attend among the same tokens (a ViT or TNT).')
    N = maps[0].matrix.shape[-1]
    identity = torch.eye(N, device=maps[0].matrix.device)
    rollout = identity.expand(maps[0].matrix.shape[0], N, N)
    for attention_map in maps:
        flow = (0.5 * attention_map.matrix.float().mean(dim=1) + 0.5 * identity).abs()
        rollout = (flow / flow.sum(dim=-1, keepdim=True)) @ rollout
    last = maps[-1]
    return AttentionMap('rollout', rollout[:, None], last.key_grid, last.query_grid, last.num_prefix_tokens)


def select_map(maps: List[AttentionMap], layer: str) -> AttentionMap:
    """ The map of `layer`: its name, or its position in call order (negative counts from the end). """
    names = [m.name for m in maps]
    if layer in names:
        return maps[names.index(layer)]
    try:
        return maps[int(layer)]
    except (ValueError, IndexError):
        raise ValueError(f'layer={layer!r} is neither a layer name nor an index below {len(maps)}; layers: {names}') from None


def query_weights(attention_map: AttentionMap, query: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """ Each head's weights over the key grid for one query, (B, heads, H, W).

    query: the (row, col) of a grid token; None for the first prefix token (the class token), the centre
    token of a map without one, or the mean over the Perceiver's latents.
    """
    matrix, P = attention_map.matrix, attention_map.num_prefix_tokens
    if attention_map.query_grid is None:
        if query is not None:
            raise ValueError(f'{attention_map.name}: its queries are latents, not a grid; pass no query.')
        row = matrix.mean(dim=2)
    else:
        rows, cols = attention_map.query_grid
        if query is None:
            index = 0 if P else (rows // 2) * cols + cols // 2
        else:
            if not (0 <= query[0] < rows and 0 <= query[1] < cols):
                raise ValueError(f'query={tuple(query)} is outside the {rows}x{cols} token grid of {attention_map.name}.')
            index = P + query[0] * cols + query[1]
        row = matrix[:, :, index]
    return row[:, :, P:].reshape(*row.shape[:2], *attention_map.key_grid)


def image_data_config(model: nn.Module, img_size: Optional[int] = None) -> Dict[str, Any]:
    """ timm's data config of `model` for its channels (`model.in_chans`) and `img_size` when built for another
    size than its default; a mean and std of another channel count are averaged to one value per channel. """
    config = resolve_model_data_config(model)
    in_chans = getattr(model, 'in_chans', config['input_size'][0])
    config['input_size'] = (in_chans, *((img_size, img_size) if img_size else config['input_size'][1:]))
    for key in ('mean', 'std'):
        if len(config[key]) != in_chans:
            config[key] = (sum(config[key]) / len(config[key]),) * in_chans
    return config


def load_image(image: Union[str, Path, Image.Image], data_config: Dict[str, Any]) -> torch.Tensor:
    """ An image (or image file) as a model with `data_config` takes it, (1, C, H, W): timm's eval transform
    (size, crop, normalization), read as grayscale for one channel. """
    image = image if isinstance(image, Image.Image) else Image.open(image)
    image = image.convert('L' if data_config['input_size'][0] == 1 else 'RGB')
    return create_transform(**data_config, is_training=False)(image).unsqueeze(0)


def plot_attention_map(
        x: torch.Tensor,
        weights: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        title: str,
        path: Path,
        rollout: Optional[torch.Tensor] = None,
) -> None:
    """ The image x (C, H, W, normalized by mean and std), then each head's weights (heads, h, w) over it, their
    mean, and the rollout (h, w) when given, as one PNG. """
    image = (x * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None]).clamp(0, 1).permute(1, 2, 0)
    panels = [(f'head {i}', w) for i, w in enumerate(weights)] + [('mean of heads', weights.mean(dim=0))]
    if rollout is not None:
        panels.append(('rollout', rollout))
    columns = min(len(panels) + 1, 6)
    rows = math.ceil((len(panels) + 1) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows + 0.4), squeeze=False)
    H, W = image.shape[:2]
    pixel_extent = (-0.5, W - 0.5, H - 0.5, -0.5)  # the map's cells cover the image's pixels edge to edge
    for ax in axes.flat:
        ax.axis('off')
    axes.flat[0].imshow(image.squeeze(-1).numpy(), cmap='gray')
    axes.flat[0].set_title('input', fontsize=8)
    for ax, (label, panel) in zip(axes.flat[1:], panels):
        ax.imshow(image.squeeze(-1).numpy(), cmap='gray')
        ax.imshow(panel.float().numpy(), cmap='inferno', alpha=0.6, extent=pixel_extent, interpolation='nearest')
        ax.set_title(label, fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_attention_map(
        model: nn.Module,
        x: torch.Tensor,
        path: Path,
        layer: str = '-1',
        query: Optional[Tuple[int, int]] = None,
        rollout: bool = False,
        lambda_part: str = 'position',
        data_config: Optional[Dict[str, Any]] = None,
) -> AttentionMap:
    """ One image's attention at `layer` (and the rollout) for `query`, drawn over the image into `path`;
    data_config (default: the model's) gives the mean and std to show the image in. """
    maps = attention_maps(model, x, lambda_part=lambda_part)
    chosen = select_map(maps, layer)
    rollout_weights = query_weights(attention_rollout(maps), query)[0, 0] if rollout else None
    data_config = data_config or image_data_config(model)
    what = 'class token' if query is None and chosen.num_prefix_tokens else (
        f'query {tuple(query)}' if query is not None else 'mean over latents' if chosen.query_grid is None else 'centre query')
    plot_attention_map(
        x[0], query_weights(chosen, query)[0], data_config['mean'], data_config['std'],
        f'{model.pretrained_cfg.get("architecture", type(model).__name__)}: {chosen.name}, {what}', path, rollout_weights)
    return chosen
