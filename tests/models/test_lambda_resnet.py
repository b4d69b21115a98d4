""" ResNet-50 and Lambda-ResNet-50 for CIFAR: ResNet-50 exactly, lambda layers where the paper's hybrid puts them. """
import timm
from timm.models.byobnet import BottleneckBlock, SelfAttnBlock

from timm_attnzoo.layers import LambdaLayer


def _params(model):
    return sum(p.numel() for p in model.parameters())


def test_resnet50_cifar_is_timms_resnet50_with_a_3x3_stem():
    reference = timm.create_model('resnet50', num_classes=10)
    stem_difference = 64 * 3 * (7 * 7 - 3 * 3)
    assert _params(timm.create_model('resnet50_cifar')) == _params(reference) - stem_difference


def test_lambda_layers_replace_the_3x3_convolutions_of_c4_and_c5():
    model = timm.create_model('lambda_resnet50_cifar')
    kinds = [[type(block) for block in stage] for stage in model.stages]
    assert kinds == [[BottleneckBlock] * 3, [BottleneckBlock] * 4, [SelfAttnBlock] * 6, [SelfAttnBlock] * 3]
    lambdas = [block.self_attn for stage in model.stages[2:] for block in stage]
    assert all(isinstance(layer, LambdaLayer) for layer in lambdas)
    assert {(layer.num_heads, layer.dim_qk, layer.intra_depth, layer.pos_emb_type) for layer in lambdas} == {
        (4, 16, 1, 'conv')}
    assert [layer.conv_lambda.kernel_size[:2] for layer in lambdas] == [(9, 9)] * 9
    assert _params(model) < 0.6 * _params(timm.create_model('resnet50_cifar'))


def test_the_cifar_stem_keeps_full_resolution():
    model = timm.create_model('resnet50_cifar')
    assert model.stem.conv.stride == (1, 1) and model.stem.conv.kernel_size == (3, 3)
    assert [f['reduction'] for f in model.feature_info] == [1, 2, 4, 8]
