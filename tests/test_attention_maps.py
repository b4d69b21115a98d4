""" Attention maps of whole models: the right rows and columns for every family, windows put back where they
were, rollout, and the `attnzoo attention-map` command on a saved checkpoint. """
import numpy as np
import pytest
import timm
import torch
from PIL import Image
from timm.models import save_for_hf
from timm.models.swin_transformer import SwinTransformerBlock

from timm_attnzoo.attention_maps import (
    AttentionMap, attention_maps, attention_rollout, image_data_config, load_image, query_weights, select_map,
)
from timm_attnzoo.checkpoints import create_model_from_checkpoint
from timm_attnzoo.cli import main
from timm_attnzoo.models.mixformer import MixingBlock

from .conftest import ZOO_MODELS, eval_model

MODELS_WITHOUT_ATTENTION = ('mixer_cifar', 'resnet50_cifar')


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_every_model_gives_maps_over_its_grid_or_says_it_has_no_attention(model_name):
    model = eval_model(model_name)
    x = torch.randn(1, *model.pretrained_cfg['input_size'])
    if model_name in MODELS_WITHOUT_ATTENTION:
        with pytest.raises(ValueError, match='no attention layer'):
            attention_maps(model, x)
        return
    maps = attention_maps(model, x)
    for attention_map in maps:
        B, heads, queries, keys = attention_map.matrix.shape
        assert keys == attention_map.num_prefix_tokens + attention_map.key_grid[0] * attention_map.key_grid[1]
        assert query_weights(attention_map).shape == (1, heads, *attention_map.key_grid)
        assert torch.isfinite(attention_map.matrix).all()


@pytest.mark.parametrize('model_name,query_grid', [
    ('vit_cifar', (8, 8)), ('tnt_cifar', (8, 8)), ('swin_cifar', (16, 16)), ('mixformer_tiny_cifar', (16, 16)),
    ('perceiver_io_cifar', None)])
def test_softmax_maps_are_distributions_over_the_keys(model_name, query_grid):
    maps = attention_maps(eval_model(model_name), torch.randn(1, 3, 32, 32))
    assert maps[0].query_grid == query_grid
    torch.testing.assert_close(maps[0].matrix.sum(-1), torch.ones(maps[0].matrix.shape[:-1]))
    if query_grid is None:  # the Perceiver's latents over the 32x32 pixels
        assert maps[0].key_grid == (32, 32)


def _merge(matrix, v):
    """ (B, h, N, N) @ (B, h, N, d) -> (B, N, h * d). """
    out = matrix @ v
    return out.transpose(1, 2).reshape(out.shape[0], out.shape[2], -1)


def test_swin_shifted_windows_are_put_back_where_they_were():
    """ The (H W, H W) map of a shifted-window block times the values at each position is the block's attention. """
    block = SwinTransformerBlock(16, input_resolution=(8, 8), num_heads=2, window_size=4, shift_size=2).eval()
    torch.nn.init.normal_(block.attn.relative_position_bias_table)
    x = torch.randn(2, 8, 8, 16)
    matrix = attention_maps(torch.nn.Sequential(block), x)[0].matrix
    assert matrix.shape == (2, 2, 64, 64)
    tokens = block.norm1(x).reshape(2, 64, 16)
    v = block.attn.qkv(tokens).reshape(2, 64, 3, 2, 8)[:, :, 2].transpose(1, 2)  # values at each unshifted position
    expected = block._attn(block.norm1(x)).reshape(2, 64, 16)
    torch.testing.assert_close(block.attn.proj(_merge(matrix, v)), expected, rtol=1e-4, atol=1e-5)
    # shifted by 2, token (2, 2) opens a window: it sees (5, 5) but not (1, 1), its neighbour in an unshifted one
    assert matrix[0, 0, 18, 45] > 0 and matrix[0, 0, 18, 9] == 0


def test_mixformer_windows_are_put_back_where_they_were():
    block = MixingBlock(32, num_heads=2, window_size=(4, 4)).eval()
    torch.nn.init.normal_(block.attn.attn.relative_position_bias_table)
    x = torch.randn(1, 8, 8, 32)
    matrix = attention_maps(torch.nn.Sequential(block), x)[0].matrix
    windows_in = block.attn.proj_attn_norm(block.attn.proj_attn(block.norm1(x)))  # what the windows are cut from
    v = block.attn.attn.split_heads(windows_in.reshape(1, 64, 16))[2]
    torch.testing.assert_close(_merge(matrix, v), block.attn.mix_windows(windows_in).reshape(1, 64, 16))
    assert matrix[0, 0, 0, 3] > 0 and matrix[0, 0, 0, 4] == 0  # (0, 3) is in the first window, (0, 4) is not


def test_rollout_of_one_layer_is_its_renormalized_half_identity_flow():
    matrix = torch.softmax(torch.randn(2, 3, 5, 5), dim=-1)
    rollout = attention_rollout([AttentionMap('a', matrix, (2, 2), (2, 2), 1)])
    flow = 0.5 * matrix.mean(dim=1) + 0.5 * torch.eye(5)
    torch.testing.assert_close(rollout.matrix[:, 0], flow / flow.sum(-1, keepdim=True))
    uniform = AttentionMap('u', torch.full((1, 1, 5, 5), 0.2), (2, 2), (2, 2), 1)
    assert torch.allclose(attention_rollout([uniform] * 4).matrix.sum(-1), torch.ones(1, 1, 5))
    with pytest.raises(ValueError, match='same tokens'):
        attention_rollout([uniform, AttentionMap('p', torch.ones(1, 1, 3, 4), (2, 2), None)])


def test_query_weights_pick_the_class_token_a_grid_query_or_the_centre():
    matrix = torch.arange(2 * 5 * 5, dtype=torch.float).reshape(1, 2, 5, 5)
    with_class = AttentionMap('a', matrix, (2, 2), (2, 2), 1)
    torch.testing.assert_close(query_weights(with_class)[0, 1], matrix[0, 1, 0, 1:].reshape(2, 2))
    torch.testing.assert_close(query_weights(with_class, (1, 0))[0, 0], matrix[0, 0, 3, 1:].reshape(2, 2))
    with pytest.raises(ValueError, match=r'query=\(2, 0\) is outside the 2x2'):
        query_weights(with_class, (2, 0))
    no_prefix = AttentionMap('b', matrix[:, :, 1:, 1:], (2, 2), (2, 2))
    torch.testing.assert_close(query_weights(no_prefix)[0, 0], matrix[0, 0, 4, 1:].reshape(2, 2))  # centre (1, 1)
    with pytest.raises(ValueError, match="layer='x'"):
        select_map([with_class], 'x')
    assert select_map([with_class, no_prefix], 'b') is no_prefix and select_map([with_class, no_prefix], '-1') is no_prefix


@pytest.fixture(scope='module')
def fashion_weights(tmp_path_factory):
    """ A vit_cifar for 1x28x28 saved as a study run saves it, and an image for it. """
    folder = tmp_path_factory.mktemp('weights')
    model = timm.create_model('vit_cifar', in_chans=1, img_size=28, num_classes=10)
    data_config = dict(input_size=(1, 28, 28), mean=(0.286,), std=(0.353,), crop_pct=1.0, interpolation='bilinear')
    save_for_hf(model, folder, model_args=dict(in_chans=1, img_size=28, num_classes=10), data_config=data_config)
    image = folder / 'image.png'
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)).save(image)
    return model, folder, image


def test_checkpoint_folder_and_file_load_the_same_weights(fashion_weights, tmp_path):
    model, folder, _ = fashion_weights
    from_folder = create_model_from_checkpoint('vit_cifar', str(folder))
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'last.pth.tar')
    from_file = create_model_from_checkpoint(
        'vit_cifar', str(tmp_path / 'last.pth.tar'), in_chans=1, img_size=28, num_classes=10)
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(from_folder.eval()(x), model.eval()(x))
    torch.testing.assert_close(from_file.eval()(x), model(x))
    assert tuple(image_data_config(from_folder)['mean']) == (0.286,)
    with pytest.raises(ValueError, match='holds a vit_cifar, not a swin_cifar'):
        create_model_from_checkpoint('swin_cifar', str(folder))


def test_cli_draws_the_map_of_a_saved_model(fashion_weights, tmp_path, capsys):
    model, folder, image = fashion_weights
    main(['attention-map', '--checkpoint', str(folder), '--image', str(image), '--list-layers'])
    assert capsys.readouterr().out.split('\n')[:4] == [f'blocks.{i}.attn  (4, 50, 50)' for i in range(4)]
    output = tmp_path / 'map.png'
    main(['attention-map', '--checkpoint', str(folder), '--image', str(image), '--layer', 'blocks.1.attn',
          '--query', '3', '3', '--rollout', '--output', str(output)])
    assert 'blocks.1.attn: 4 heads over a 7x7 grid' in capsys.readouterr().out
    assert Image.open(output).size[0] > 600  # input, four heads, their mean and the rollout
    data_config = image_data_config(model, img_size=28)  # built for 28 px, but its pretrained_cfg says 32
    assert data_config['input_size'] == (1, 28, 28) and len(data_config['mean']) == 1
    assert load_image(str(image), data_config).shape == (1, 1, 28, 28)
