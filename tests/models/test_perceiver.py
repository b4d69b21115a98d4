""" Perceiver and Perceiver IO: the paper's Fourier features, built once per input size; perceiver-pytorch, the
implementation the seed trained, reproduced weight for weight; the seed's configurations; the latent-set contract. """
import math
import re

import pytest
import timm
import torch
from perceiver_pytorch import Perceiver as ReferencePerceiver
from perceiver_pytorch import PerceiverIO as ReferencePerceiverIO

from timm_attnzoo.models import perceiver as perceiver_module
from timm_attnzoo.models.perceiver import fourier_position_features

from ..conftest import LATENT_ARRAY_MODELS

INPUT_DIM = 3 + 2 * (2 * 6 + 1)  # RGB and 6 bands on each of 2 axes

# perceiver-pytorch's parameter names -> ours, applied in order
REFERENCE_RENAMES = [
    (r'\.fn\.to_q\.', '.attn.q.'),
    (r'\.fn\.to_kv\.', '.attn.kv.'),
    (r'\.fn\.to_out(\.0)?\.', '.attn.proj.'),
    (r'\.fn\.net\.0\.', '.mlp.fc1.'),
    (r'\.fn\.net\.[23]\.', '.mlp.fc2.'),
    (r'^decoder_cross_attn\.norm\.', 'decoder.norm_query.'),
    (r'^decoder_cross_attn\.norm_context\.', 'decoder.norm_latents.'),
    (r'^decoder_cross_attn\.', 'decoder.'),
    (r'cross_attn\.norm\.', 'cross_attend.norm1.'),
    (r'cross_attn\.', 'cross_attend.'),
    (r'cross_ff\.norm\.', 'cross_attend.norm2.'),
    (r'cross_ff\.', 'cross_attend.'),
    (r'self_attns\.(\d+)\.0\.norm\.', r'latent_blocks.\1.norm1.'),
    (r'self_attns\.(\d+)\.1\.norm\.', r'latent_blocks.\1.norm2.'),
    (r'self_attns\.(\d+)\.[01]\.', r'latent_blocks.\1.'),
    (r'^to_logits\.1\.', 'fc_norm.'),
    (r'^to_logits\.(2\.)?', 'head.'),
]


def _perturbed(reference):
    """ Away from the default init, so that a swapped norm or projection shows in the output. """
    with torch.no_grad():
        for param in reference.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return reference.eval()


def _our_state_dict(reference, num_layers):
    """ The reference's weights under our names; its weight-tied layers beyond ours are the shared ones. """
    state_dict = {}
    for name, value in reference.state_dict().items():
        if isinstance(reference, ReferencePerceiverIO):  # one cross-attend block, then `depth` latent blocks
            name = re.sub(r'^cross_attend_block\.', 'layers.0.', name)
            name = re.sub(r'^layers\.(\d+)\.self_attns\.0\.', r'layers.0.self_attns.\1.', name)
        layer = re.match(r'layers\.(\d+)\.', name)
        if layer and int(layer.group(1)) >= num_layers:
            shared = name.replace(f'layers.{layer.group(1)}.', f'layers.{num_layers - 1}.', 1)
            assert reference.state_dict()[shared].data_ptr() == value.data_ptr(), name
            continue
        for pattern, replacement in REFERENCE_RENAMES:
            name = re.sub(pattern, replacement, name)
        state_dict[name] = value
    state_dict['latents'] = state_dict['latents'].unsqueeze(0)
    return state_dict


def test_fourier_features_are_the_papers():
    # Sec. 3.2: per axis [x_d, sin(f_k pi x_d), cos(f_k pi x_d)], x_d in [-1, 1], f_k equally spaced in [1, mu / 2]
    H, W, K, mu = 3, 5, 4, 8.
    features = fourier_position_features((H, W), K, mu)
    assert features.shape == (H * W, 2 * (2 * K + 1))
    bands = [1 + k * (mu / 2 - 1) / (K - 1) for k in range(K)]
    for i in range(H):
        for j in range(W):
            expected = []
            for x in (-1 + 2 * i / (H - 1), -1 + 2 * j / (W - 1)):
                expected += [x, *(math.sin(f * math.pi * x) for f in bands), *(math.cos(f * math.pi * x) for f in bands)]
            torch.testing.assert_close(features[i * W + j], torch.tensor(expected), atol=1e-5, rtol=0)


@pytest.mark.parametrize('model_name', LATENT_ARRAY_MODELS)
def test_fourier_features_are_built_once_per_input_size(model_name, monkeypatch):
    built = []

    def counting(feat_shape, *args, **kwargs):
        built.append(tuple(feat_shape))
        return fourier_position_features(feat_shape, *args, **kwargs)

    monkeypatch.setattr(perceiver_module, 'fourier_position_features', counting)
    model = timm.create_model(model_name, in_chans=1)
    for size in (28, 28, 28, 32, 32, 28):
        model(torch.randn(2, 1, size, size))
    assert built == [(28, 28), (32, 32), (28, 28)]


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(depth=3, weight_sharing=True),
    dict(in_chans=1, num_freq_bands=4, max_freq=28., self_per_cross_attn=1),
], ids=['seed_large', 'weight_sharing', 'mnist'])
def test_perceiver_is_perceiver_pytorch(kwargs):
    ours = timm.create_model('perceiver_cifar', **kwargs).eval()
    in_chans = kwargs.get('in_chans', 3)
    input_dim = in_chans + 2 * (2 * kwargs.get('num_freq_bands', 6) + 1)
    reference = _perturbed(ReferencePerceiver(
        input_channels=input_dim, input_axis=2, num_freq_bands=1, max_freq=1., fourier_encode_data=False,
        depth=kwargs.get('depth', 4), num_latents=32, latent_dim=64, cross_heads=1, cross_dim_head=32,
        latent_heads=8, latent_dim_head=32, self_per_cross_attn=kwargs.get('self_per_cross_attn', 2),
        weight_tie_layers=kwargs.get('weight_sharing', False), num_classes=10))
    ours.load_state_dict(_our_state_dict(reference, len(ours.layers)))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())

    x = torch.randn(2, in_chans, 28, 28)
    with torch.no_grad():
        expected = reference(ours.input_array(x).reshape(2, 28, 28, input_dim))  # channels-last, as the seed fed it
        torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)


def test_perceiver_io_is_perceiver_pytorch_with_a_learned_query():
    ours = timm.create_model('perceiver_io_cifar').eval()
    reference = _perturbed(ReferencePerceiverIO(
        dim=INPUT_DIM, queries_dim=10, logits_dim=10, depth=2, num_latents=32, latent_dim=64, cross_heads=1,
        latent_heads=8, cross_dim_head=128, latent_dim_head=128))
    missing, unexpected = ours.load_state_dict(_our_state_dict(reference, len(ours.layers)), strict=False)
    assert missing == ['decoder.query'] and unexpected == []  # the seed trained its query beside the model

    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        query = ours.decoder.query.expand(2, -1, -1)
        expected = reference(ours.input_array(x), queries=query)[:, 0]
        torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)


def test_perceiver_cifar_has_the_seeds_parameter_count():
    # the seed's README: 1,151,730 parameters for its 'Large' CIFAR-10 Perceiver
    assert sum(p.numel() for p in timm.create_model('perceiver_cifar').parameters()) == 1_151_730


@pytest.mark.parametrize('img_size, num_classes, kwargs', [
    (32, 10, dict()),
    (96, 10, dict(num_latents=96, latent_dim=192, cross_head_dim=64, latent_head_dim=64)),
    (64, 200, dict(cross_head_dim=64, latent_head_dim=64, decoder_query_dim=200)),
], ids=['cifar10', 'stl10', 'tiny_imagenet'])
def test_seed_perceiver_io_configurations(img_size, num_classes, kwargs):
    # the seed's README tables: PerceiverIO(depth=2, cross_heads=1, latent_heads=8), a query as wide as the logits
    model = timm.create_model('perceiver_io_cifar', num_classes=num_classes, **kwargs)
    assert model(torch.randn(2, 3, img_size, img_size)).shape == (2, num_classes)
    reference = ReferencePerceiverIO(
        dim=INPUT_DIM, queries_dim=kwargs.get('decoder_query_dim', 10), logits_dim=num_classes, depth=2,
        num_latents=kwargs.get('num_latents', 32), latent_dim=kwargs.get('latent_dim', 64), cross_heads=1,
        latent_heads=8, cross_dim_head=kwargs.get('cross_head_dim', 128),
        latent_dim_head=kwargs.get('latent_head_dim', 128))
    query_params = model.decoder.query.numel()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters()) + query_params


@pytest.mark.parametrize('model_name', LATENT_ARRAY_MODELS)
def test_latents_have_no_feature_maps_but_come_out_as_intermediates(model_name):
    with pytest.raises(ValueError, match='features_only'):
        timm.create_model(model_name, features_only=True)
    model = timm.create_model(model_name).eval()
    x = torch.randn(2, 3, 32, 32)
    final, intermediates = model.forward_intermediates(x)
    torch.testing.assert_close(final, model.forward_features(x))
    assert [t.shape for t in intermediates] == [(2, 32, 64)] * model.depth
    torch.testing.assert_close(intermediates[-1], final)
    assert len(model.forward_intermediates(x, indices=[0], stop_early=True, intermediates_only=True)) == 1
    with pytest.raises(ValueError, match="output_fmt='NCHW'"):
        model.forward_intermediates(x, output_fmt='NCHW')


def test_pooling_can_be_dropped_but_not_swapped():
    model = timm.create_model('perceiver_io_cifar')
    with pytest.raises(ValueError, match="global_pool='avg'"):
        model.reset_classifier(10, global_pool='avg')
    model.reset_classifier(5, global_pool='')
    assert model.decoder is None and model(torch.randn(2, 3, 32, 32)).shape == (2, 32, 5)  # one output per latent
    with pytest.raises(ValueError, match="decoder_query_dim=10 needs global_pool='query'"):
        timm.create_model('perceiver_io_cifar', global_pool='avg')
