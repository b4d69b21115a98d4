from .create_attention import ATTENTION_LAYERS, check_attn_type, create_attention
from .cross_attention import CrossAttention
from .dilated_linear import DilatedLinearAttention, dilated_window_partition, dilated_window_reverse
from .lambda_layer import POSITION_EMBEDDINGS, LambdaLayer
from .linear_attention import linear_attention
from .linformer import LinformerAttention, resample_linformer_projection
from .nystrom import NystromAttention, iterative_pinv, segment_means
from .performer import PERFORMER_KERNELS, PerformerAttention, orthogonal_gaussian_features
from .qkv_attention import QKVAttention
from .softmax_attention import SoftmaxAttention
from .window_attention import WindowAttention
