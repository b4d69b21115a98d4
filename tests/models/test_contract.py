""" timm's model contract, for every model the package registers, whatever its family. """
import fnmatch

import pytest
import timm
import torch
import torch.nn as nn

from ..conftest import FEATURE_MAP_MODELS, ZOO_MODELS, eval_model


def _input(model, batch_size=2):
    return torch.randn(batch_size, *model.pretrained_cfg['input_size'])


def is_fixed_size(model_name):
    return timm.models.get_pretrained_cfg(model_name).fixed_input_size


def size_kwargs(model_name, in_chans=3, img_size=32):
    """ Keyword arguments for another input: img_size only for models tied to one size (ViT's position embedding). """
    return dict(in_chans=in_chans, **(dict(img_size=img_size) if is_fixed_size(model_name) else {}))


def test_every_model_is_registered_with_timm():
    assert set(ZOO_MODELS) >= {
        'vit_cifar', 'vit_linformer_cifar', 'vit_performer_cifar', 'vit_performer_relu_cifar', 'vit_nystrom_cifar',
        'vit_dilated_linear_cifar', 'vit_performer_reg_cifar', 'vit_reg_performer_cifar',
        'vit_performer_intertwined_cifar', 'mixformer_cifar', 'mixformer_lambda_cifar', 'mixformer_lambda_seq_cifar',
        'mixformer_lambda_noint_cifar', 'mixformer_lambda_nospatial_cifar', 'mixformer_lambda_nochannel_cifar',
        'mixformer_norpb_cifar', 'mixformer_tiny_cifar', 'mixformer_lambda_tiny_cifar', 'lambda_resnet50_cifar', 'lambda_resnet_tiny_cifar',
        'resnet50_cifar', 'perceiver_cifar', 'perceiver_io_cifar', 'mixer_cifar', 'swin_cifar', 'tnt_cifar'}


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_pretrained_cfg_points_at_real_layers(model_name):
    model = eval_model(model_name)
    cfg = model.pretrained_cfg
    assert cfg['input_size'] == (3, 32, 32) and cfg['num_classes'] == 10
    assert len(cfg['mean']) == len(cfg['std']) == 3
    if cfg['first_conv'] is None:  # nothing for timm to adapt to another in_chans: pixels meet no conv
        assert not any(isinstance(m, nn.Conv2d) for m in model.modules())
    else:
        first_conv = model.get_submodule(cfg['first_conv'])
        assert isinstance(first_conv, nn.Conv2d) and first_conv.in_channels == 3
    classifier = model.get_submodule(cfg['classifier'])
    assert classifier is model.get_classifier() and classifier.out_features == 10


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_forward_features_head_and_classifier_reset(model_name):
    model = timm.create_model(model_name).eval()
    x = _input(model)
    features = model.forward_features(x)
    assert features.shape[0] == 2 and model.num_features in features.shape[1:]
    pre_logits = model.forward_head(features, pre_logits=True)
    assert pre_logits.shape == (2, model.head_hidden_size)
    logits = model.forward_head(features)
    torch.testing.assert_close(logits, model(x))
    assert logits.shape == (2, 10)

    model.reset_classifier(7)
    assert model(x).shape == (2, 7) and model.get_classifier().out_features == 7
    model.reset_classifier(0)
    assert model(x).shape == (2, model.head_hidden_size)


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_weight_decay_exclusions_and_layer_groups_name_real_parameters(model_name):
    model = eval_model(model_name)
    names = [n for n, _ in model.named_parameters()]
    for pattern in getattr(model, 'no_weight_decay', set)():
        # timm's optimizer factory matches these names with fnmatch; some ViT names are absent by configuration
        assert pattern in ('dist_token', 'reg_token') or fnmatch.filter(names, pattern), pattern
    groups = timm.models.group_parameters(model, model.group_matcher())
    assert sorted(n for g in groups.values() for n in g) == sorted(names)
    assert len(groups) > 2  # stem, the blocks or stages, the rest


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_grad_checkpointing_gives_the_same_output_and_gradients(model_name):
    model = timm.create_model(model_name).eval()  # eval: no dropout, no feature redraw, BN running stats
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


@pytest.mark.parametrize('model_name', FEATURE_MAP_MODELS)
def test_forward_intermediates_and_features_only_agree_with_feature_info(model_name):
    torch.manual_seed(0)
    model = timm.create_model(model_name).eval()
    x = _input(model)
    final, intermediates = model.forward_intermediates(x)
    torch.testing.assert_close(final, model.forward_features(x))
    info = model.feature_info
    assert [t.shape for t in intermediates] == [
        (2, f['num_chs'], -(-32 // f['reduction']), -(-32 // f['reduction'])) for f in info]

    torch.manual_seed(0)  # the same initial weights as the model
    backbone = timm.create_model(model_name, features_only=True).eval()
    feature_maps = backbone(x)
    if getattr(backbone, 'output_fmt', 'NCHW') == 'NHWC':  # timm's Swin hands its stages' NHWC maps on as they are
        feature_maps = [f.permute(0, 3, 1, 2) for f in feature_maps]
    channels, reductions = backbone.feature_info.channels(), backbone.feature_info.reduction()
    assert [f.shape for f in feature_maps] == [(2, c, 32 // r, 32 // r) for c, r in zip(channels, reductions)]
    torch.testing.assert_close(feature_maps[-1], intermediates[-1])


@pytest.mark.parametrize('model_name', ZOO_MODELS)
@pytest.mark.parametrize('in_chans, img_size, num_classes', [
    (1, 28, 10),  # MNIST, Fashion-MNIST
    (3, 96, 10),  # STL-10
    (3, 64, 200),  # Tiny ImageNet
])
def test_builds_and_runs_at_the_seed_data_sets_sizes(model_name, in_chans, img_size, num_classes):
    model = timm.create_model(
        model_name, drop_rate=0.1, drop_path_rate=0.1, num_classes=num_classes, **size_kwargs(model_name, in_chans, img_size))
    out = model(torch.randn(2, in_chans, img_size, img_size))
    assert out.shape == (2, num_classes) and out.isfinite().all()
    assert (model.in_chans, model.num_classes) == (in_chans, num_classes)  # timm reads both to export (save_for_hf)


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_bf16_autocast_is_finite_and_gradients_reach_every_parameter(model_name):
    model = timm.create_model(model_name)
    with torch.no_grad():  # a zero-initialized scale (ByobNet's last BN per block) blocks the gradient at init
        for param in model.parameters():
            if not param.any():
                param.fill_(0.5)
    x = _input(model, batch_size=4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.bfloat16 and out.isfinite().all()
    out.float().logsumexp(dim=-1).mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.isfinite().all(), name
        assert param.grad.abs().sum() > 0, f'{name} gets no gradient'


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_eval_outputs_do_not_change_between_calls(model_name):
    # nothing random in eval: no dropout, no redraw of the Performer's features
    model = eval_model(model_name)
    x = _input(model)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize('model_name', ZOO_MODELS)
def test_wrong_channel_count_gets_a_value_error_naming_in_chans(model_name):
    model = eval_model(model_name)
    with pytest.raises(ValueError, match='in_chans=3.*in_chans=1'):
        model(torch.randn(1, 1, 32, 32))


@pytest.mark.parametrize('model_name', FEATURE_MAP_MODELS)
def test_features_only_backbone_checks_the_channel_count(model_name):
    backbone = timm.create_model(model_name, features_only=True)
    with pytest.raises(ValueError, match='in_chans=3'):
        backbone(torch.randn(1, 1, 32, 32))


@pytest.mark.parametrize('model_name', [name for name in ZOO_MODELS if is_fixed_size(name)])
def test_wrong_image_size_of_a_fixed_size_model_gets_a_value_error_naming_img_size(model_name):
    model = eval_model(model_name)
    with pytest.raises(ValueError, match=r'img_size=\(32, 32\).*img_size=\(28, 28\)'):
        model(torch.randn(1, 3, 28, 28))


@pytest.mark.parametrize('model_name', [name for name in ZOO_MODELS if is_fixed_size(name)])
def test_image_size_the_patches_do_not_divide_gets_a_value_error_naming_img_size_and_patch_size(model_name):
    # 33 is divisible by none of the zoo's patch sizes (2 and 4); timm's strided patch embeddings would drop a row
    with pytest.raises(ValueError, match=r'img_size=\(?33.*not divisible by patch_size='):
        timm.create_model(model_name, img_size=33)


@pytest.mark.parametrize('model_name', [name for name in ZOO_MODELS if not is_fixed_size(name)])
@pytest.mark.parametrize('img_size', [30, 33])
def test_models_without_a_fixed_size_take_sizes_their_windows_and_strides_do_not_divide(model_name, img_size):
    # MixFormer pads its windows, the lambda layers' local contexts and the Perceivers' pixel arrays take any grid
    model = eval_model(model_name)
    with torch.no_grad():
        out = model(torch.randn(1, 3, img_size, img_size))
    assert out.shape == (1, model.num_classes) and out.isfinite().all()


@pytest.mark.parametrize('model_name', [name for name in ZOO_MODELS if hasattr(eval_model(name), 'set_input_size')])
def test_set_input_size_to_a_size_the_patches_do_not_divide_gets_a_value_error(model_name):
    with pytest.raises(ValueError, match=r'img_size=\(?33.*not divisible by patch_size='):
        timm.create_model(model_name).set_input_size(img_size=33)
