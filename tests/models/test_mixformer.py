""" MixFormer and the MixFormer-Lambda hybrid: the seed's sizes, and ablations that differ where the seed says. """
import pytest
import timm
import torch

from timm_attnzoo.layers import LambdaLayer, WindowAttention

HYBRID = 'mixformer_lambda_tiny_cifar'


def _params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('model_name, seed_params', [
    ('mixformer_cifar', 28_585_688),
    ('mixformer_lambda_cifar', 27_712_930),
])
def test_default_sizes_are_within_two_percent_of_the_seeds(model_name, seed_params):
    assert abs(_params(timm.create_model(model_name)) / seed_params - 1) < 0.02


@pytest.mark.parametrize('model_name', ['mixformer_tiny_cifar', 'mixformer_lambda_tiny_cifar'])
def test_tiny_variants_have_one_to_three_million_parameters(model_name):
    assert 1e6 <= _params(timm.create_model(model_name)) <= 3e6


def test_the_hybrid_puts_a_lambda_layer_with_learned_embeddings_on_each_window():
    model = timm.create_model('mixformer_lambda_cifar')
    mixers = [block.attn.attn for stage in model.stages for block in stage.blocks]
    assert all(isinstance(m, LambdaLayer) and m.pos_emb_type == 'learned' for m in mixers)
    assert [m.feat_size for m in mixers[-7:]] == [(2, 2)] * 7  # the 2x2 windows of the last stage
    mixformer = timm.create_model('mixformer_cifar')
    assert all(isinstance(b.attn.attn, WindowAttention) for s in mixformer.stages for b in s.blocks)


ABLATIONS = {
    # name: (blocks lose these modules, the model is smaller)
    'mixformer_lambda_seq_cifar': {'channel_interaction', 'spatial_interaction', 'projection', 'conv_norm'},
    'mixformer_lambda_noint_cifar': {'channel_interaction', 'spatial_interaction'},
    'mixformer_lambda_nospatial_cifar': {'spatial_interaction'},
    'mixformer_lambda_nochannel_cifar': {'channel_interaction'},
}


@pytest.mark.parametrize('ablation, removed', ABLATIONS.items())
def test_each_ablation_removes_what_the_seed_says_and_computes_something_else(ablation, removed):
    hybrid = timm.create_model('mixformer_lambda_cifar', depths=(1, 1, 1, 1)).eval()
    model = timm.create_model(ablation, depths=(1, 1, 1, 1)).eval()
    hybrid_state = hybrid.state_dict()
    shared = {k: v for k, v in hybrid_state.items() if k in model.state_dict() and model.state_dict()[k].shape == v.shape}
    missing, unexpected = model.load_state_dict(shared, strict=False)
    dropped = {k.split('.attn.')[1].split('.')[0] for k in hybrid_state if k not in shared and '.attn.' in k}
    assert dropped == removed | ({'proj'} if ablation.endswith('seq_cifar') else set())  # seq: proj narrows to C/2 -> C
    assert set(missing) <= {k for k in model.state_dict() if '.attn.proj.' in k}
    assert _params(model) < _params(hybrid)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(model(x), hybrid(x), atol=1e-3)


def test_interactions_cost_parameters_in_the_designed_order():
    counts = {name: _params(timm.create_model(name)) for name in ['mixformer_lambda_cifar', *ABLATIONS]}
    assert counts['mixformer_lambda_seq_cifar'] < counts['mixformer_lambda_noint_cifar']
    assert counts['mixformer_lambda_noint_cifar'] < min(
        counts['mixformer_lambda_nospatial_cifar'], counts['mixformer_lambda_nochannel_cifar'])
    assert max(counts['mixformer_lambda_nospatial_cifar'], counts['mixformer_lambda_nochannel_cifar']) < counts[
        'mixformer_lambda_cifar']
    # the two interactions are independent: dropping both saves what dropping each saves
    assert counts['mixformer_lambda_cifar'] - counts['mixformer_lambda_noint_cifar'] == (
        2 * counts['mixformer_lambda_cifar'] - counts['mixformer_lambda_nospatial_cifar']
        - counts['mixformer_lambda_nochannel_cifar'])


def test_without_relative_position_bias_only_the_bias_tables_go():
    full, norpb = timm.create_model('mixformer_cifar'), timm.create_model('mixformer_norpb_cifar')
    tables = sum(p.numel() for n, p in full.named_parameters() if n.endswith('relative_position_bias_table'))
    assert tables > 0 and _params(full) - _params(norpb) == tables
    with torch.no_grad():  # a learned bias, not the near-zero one of initialization
        for name, param in full.named_parameters():
            if name.endswith('relative_position_bias_table'):
                param.normal_()
    norpb.load_state_dict(full.state_dict(), strict=False)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(norpb.eval()(x), full.eval()(x), atol=1e-3)


@pytest.mark.parametrize('mixer', ['attention', 'lambda'])
def test_gating_the_output_channels_is_gating_the_values(mixer):
    """ The channel interaction gates the mixer's output: the same as gating V, since both mixers are linear in
    each value channel. Scaling the value projection by g scales the output by g. """
    model = timm.create_model(HYBRID if mixer == 'lambda' else 'mixformer_tiny_cifar').eval()
    layer = model.stages[0].blocks[0].attn.attn
    x = torch.randn(2, 16, 4, 4) if mixer == 'lambda' else torch.randn(2, 16, 16)
    out = layer(x)
    with torch.no_grad():
        if mixer == 'lambda':
            gate = torch.rand(layer.dim_v) + 0.5
            layer.norm_v.weight.mul_(gate)
            layer.norm_v.bias.mul_(gate)
            expected = out * gate.repeat(layer.num_heads)[None, :, None, None]
        else:
            gate = torch.rand(16) + 0.5
            layer.qkv.weight[32:].mul_(gate[:, None])
            layer.qkv.bias[32:].mul_(gate)
            expected = out * gate
        torch.testing.assert_close(layer(x), expected)


def test_sizes_that_do_not_tile_into_windows_are_padded_and_cropped():
    model = timm.create_model(HYBRID).eval()
    features = model.forward_intermediates(torch.randn(1, 3, 30, 26), intermediates_only=True)
    assert [tuple(f.shape[-2:]) for f in features] == [(15, 13), (8, 7), (4, 4), (2, 2)]


def test_bad_configurations_get_value_errors():
    with pytest.raises(ValueError, match="mixer='performer'"):
        timm.create_model(HYBRID, mixer='performer')
    with pytest.raises(ValueError, match='window_size=.*one entry per stage'):
        timm.create_model(HYBRID, window_size=(4, 4))
    with pytest.raises(ValueError, match='patch_size=3 must be even'):
        timm.create_model(HYBRID, patch_size=3)
