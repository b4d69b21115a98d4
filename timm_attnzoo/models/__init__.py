from .efficient_attention_vit import EfficientAttentionViT
from .mixformer import MixFormer
from .lambda_resnet import CifarByobNet
