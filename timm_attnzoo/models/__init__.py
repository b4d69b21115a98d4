from .efficient_attention_vit import EfficientAttentionViT
from .mixformer import MixFormer
from .lambda_resnet import CifarByobNet
from .perceiver import Perceiver
from .mlp_mixer import CifarMlpMixer
from .swin_transformer import CifarSwinTransformer
from .tnt import CifarTNT
