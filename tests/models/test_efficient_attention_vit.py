""" The efficient-attention ViT family: attention per layer, its size checks, and grid-tied layers on resize. """
import pytest
import timm
import torch

VIT_MODELS = timm.list_models(module='efficient_attention_vit')


@pytest.mark.parametrize('model_name', VIT_MODELS)
def test_image_sizes_the_patch_grid_cannot_take_get_a_value_error(model_name):
    model = timm.create_model(model_name)
    with pytest.raises(ValueError, match='img_size'):
        model(torch.randn(1, 3, 36, 36))
    with pytest.raises(ValueError, match='img_size=30.*patch_size=4'):
        timm.create_model(model_name, img_size=30)
    with pytest.raises(ValueError, match="attn_type='nope'"):
        timm.create_model(model_name, attn_type='nope')


@pytest.mark.parametrize('model_name', VIT_MODELS)
def test_imagenet_100_size_with_patch_16(model_name):
    model = timm.create_model(model_name, img_size=224, patch_size=16, num_classes=100, global_pool='avg')
    out = model(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, 100) and out.isfinite().all()


@pytest.mark.parametrize('model_name', VIT_MODELS)
def test_position_embedding_and_tokens_skip_weight_decay_and_each_block_is_a_layer_group(model_name):
    model = timm.create_model(model_name)
    assert {'pos_embed', 'cls_token'} <= model.no_weight_decay()
    groups = timm.models.group_parameters(model, model.group_matcher())
    assert len(groups) == len(model.blocks) + 2  # stem, each block, final norm


def test_bad_layer_patterns_get_a_value_error():
    with pytest.raises(ValueError, match='layers has 2 entries but depth=4'):
        timm.create_model('vit_cifar', layers=['softmax', 'performer'])
    with pytest.raises(ValueError, match="layers='linear'"):
        timm.create_model('vit_cifar', layers=['softmax', 'linear', 'softmax', 'softmax'])
    with pytest.raises(ValueError, match='qk_norm=True'):
        timm.create_model('vit_cifar', qk_norm=True)
    with pytest.raises(ValueError, match='dynamic_img_size'):
        timm.create_model('vit_linformer_cifar', dynamic_img_size=True)


def test_per_layer_pattern_builds_the_named_attention_in_each_block():
    from timm_attnzoo.layers import PerformerAttention, SoftmaxAttention
    model = timm.create_model('vit_performer_intertwined_cifar')
    kinds = [type(block.attn) for block in model.blocks]
    assert kinds == [PerformerAttention, SoftmaxAttention] * 3
    assert model.blocks[0].attn.num_features == 64
    model = timm.create_model('vit_performer_reg_cifar')
    assert [type(b.attn) for b in model.blocks] == [PerformerAttention] * 3 + [SoftmaxAttention] * 3


def test_seed_configurations_are_expressible():
    seed_vit = timm.create_model('vit_cifar', embed_dim=48, depth=4, num_heads=4, mlp_ratio=4., patch_size=4)
    block_params = 4 * 48 * 48 + 4 * 48 + 2 * 48 * 192 + 192 + 48 + 4 * 48  # qkv, proj, fc1, fc2 (+biases), 2 LN
    embed_params = 3 * 16 * 48 + 48 + 65 * 48 + 48  # patch conv, pos embed, cls token
    assert sum(p.numel() for p in seed_vit.parameters()) == embed_params + 4 * block_params + 2 * 48 + 48 * 10 + 10
    seed_hybrid = timm.create_model(
        'vit_cifar', embed_dim=64, num_heads=4, mlp_ratio=2., depth=2, attn_type='performer',
        attn_kwargs={'performer': {'num_features': 64}})
    assert all(block.attn.num_features == 64 for block in seed_hybrid.blocks)


def test_set_input_size_carries_grid_tied_layers_to_the_new_grid():
    model = timm.create_model('vit_linformer_cifar').eval()
    model.set_input_size(img_size=64)
    assert model.blocks[0].attn.seq_len == 1 + 16 * 16
    assert model(torch.randn(1, 3, 64, 64)).isfinite().all()
    model = timm.create_model('vit_dilated_linear_cifar').eval()
    model.set_input_size(img_size=48)
    assert model(torch.randn(1, 3, 48, 48)).isfinite().all()


def test_checkpoint_of_another_size_is_resampled_on_load(tmp_path):
    source = timm.create_model('vit_linformer_cifar')
    path = tmp_path / 'linformer32.pth'
    torch.save({'state_dict': source.state_dict()}, path)
    model = timm.create_model(
        'vit_linformer_cifar', img_size=64, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    assert model.blocks[0].attn.proj_k.shape == (1 + 16 * 16, 32)
    assert model.pos_embed.shape == (1, 1 + 16 * 16, 48)
    torch.testing.assert_close(model.blocks[0].attn.proj_k[0], source.blocks[0].attn.proj_k[0])  # class-token row kept
