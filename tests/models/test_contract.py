""" timm's model contract, for every model the package registers. """
import pytest
import timm
import torch
import torch.nn as nn

from ..conftest import ZOO_MODELS


def _input(model, batch_size=2):
    return torch.randn(batch_size, *model.pretrained_cfg['input_size'])


def test_every_model_is_registered_with_timm():
    assert set(ZOO_MODELS) >= {
        'vit_cifar', 'vit_linformer_cifar', 'vit_performer_cifar', 'vit_performer_relu_cifar', 'vit_nystrom_cifar',
        'vit_dilated_linear_cifar', 'vit_performer_reg_cifar', 'vit_reg_performer_cifar',
        'vit_performer_intertwined_cifar'}


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_pretrained_cfg_points_at_real_layers(model_name):
    model = timm.create_model(model_name)
    cfg = model.pretrained_cfg
    assert cfg['input_size'] == (3, 32, 32) and cfg['num_classes'] == 10
    assert len(cfg['mean']) == len(cfg['std']) == 3
    first_conv = model.get_submodule(cfg['first_conv'])
    assert isinstance(first_conv, nn.Conv2d) and first_conv.in_channels == 3
    classifier = model.get_submodule(cfg['classifier'])
    assert classifier is model.get_classifier() and classifier.out_features == 10


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_forward_features_head_and_classifier_reset(model_name):
    model = timm.create_model(model_name).eval()
    x = _input(model)
    features = model.forward_features(x)
    assert features.shape[0] == 2 and features.shape[-1] == model.num_features
    pre_logits = model.forward_head(features, pre_logits=True)
    assert pre_logits.shape == (2, model.num_features)
    logits = model.forward_head(features)
    torch.testing.assert_close(logits, model(x))
    assert logits.shape == (2, 10)

    model.reset_classifier(7)
    assert model(x).shape == (2, 7) and model.get_classifier().out_features == 7
    model.reset_classifier(0)
    assert model(x).shape == (2, model.num_features)


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_weight_decay_groups_and_layer_groups_name_real_parameters(model_name):
    model = timm.create_model(model_name)
    names = {n for n, _ in model.named_parameters()}
    no_decay = model.no_weight_decay()
    assert no_decay and all(any(n == k or n.startswith(k + '.') for n in names) for k in no_decay & names)
    assert 'pos_embed' in no_decay and 'cls_token' in no_decay
    groups = timm.models.group_parameters(model, model.group_matcher())
    assert sorted(n for g in groups.values() for n in g) == sorted(names)
    assert len(groups) == len(model.blocks) + 2  # stem, each block, final norm


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_grad_checkpointing_gives_the_same_output_and_gradients(model_name):
    model = timm.create_model(model_name).eval()  # eval: no dropout, no feature redraw
    x = _input(model)
    out = model(x)
    out.sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    out_ckpt = model(x)
    out_ckpt.sum().backward()
    torch.testing.assert_close(out_ckpt, out)
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, grads[name], msg=name)


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_forward_intermediates_and_features_only(model_name):
    model = timm.create_model(model_name).eval()
    x = _input(model)
    final, intermediates = model.forward_intermediates(x, indices=2)
    assert len(intermediates) == 2 and intermediates[-1].shape == (2, model.num_features, 8, 8)
    torch.testing.assert_close(final, model.forward_features(x))

    backbone = timm.create_model(model_name, features_only=True, out_indices=(0, -1)).eval()
    backbone.load_state_dict(model.state_dict(), strict=False)
    feature_maps = backbone(x)
    assert [f.shape for f in feature_maps] == [(2, model.num_features, 8, 8)] * 2
    assert backbone.feature_info.channels() == [model.num_features] * 2
    assert backbone.feature_info.reduction() == [4, 4]


@pytest.mark.parametrize('model_name', ZOO_MODELS)
@pytest.mark.parametrize('size_kwargs, input_shape, num_classes', [
    (dict(in_chans=1, img_size=28), (1, 28, 28), 10),  # MNIST, Fashion-MNIST
    (dict(img_size=96), (3, 96, 96), 10),  # STL-10
    (dict(img_size=64, num_classes=200), (3, 64, 64), 200),  # Tiny ImageNet
    (dict(img_size=224, patch_size=16, num_classes=100), (3, 224, 224), 100),  # ImageNet-100
])
def test_builds_and_runs_at_the_seed_data_sets_sizes(model_name, size_kwargs, input_shape, num_classes):
    model = timm.create_model(model_name, drop_rate=0.1, drop_path_rate=0.1, global_pool='avg', **size_kwargs)
    out = model(torch.randn(2, *input_shape))
    assert out.shape == (2, num_classes) and out.isfinite().all()


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_bf16_autocast_is_finite_and_gradients_reach_every_parameter(model_name):
    model = timm.create_model(model_name)
    x = _input(model, batch_size=4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.bfloat16 and out.isfinite().all()
    out.float().logsumexp(dim=-1).mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.isfinite().all(), name
        assert param.grad.abs().sum() > 0, f'{name} gets no gradient'


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_bad_input_gets_a_value_error_naming_the_argument(model_name):
    model = timm.create_model(model_name)
    with pytest.raises(ValueError, match='in_chans=3'):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match='img_size'):
        model(torch.randn(1, 3, 36, 36))
    with pytest.raises(ValueError, match='img_size=30.*patch_size=4'):
        timm.create_model(model_name, img_size=30)
    with pytest.raises(ValueError, match="attn_type='nope'"):
        timm.create_model(model_name, attn_type='nope')


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
