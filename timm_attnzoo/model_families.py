""" The model families of timm_attnzoo/models/ as the Hub cards describe them: the papers each builds on (with
their BibTeX), the architecture as this package builds it, its intended use and limitations, and its Hub tags. """
from dataclasses import dataclass
from typing import List, Tuple

import timm
from timm.models import model_entrypoint, split_model_name_tag

from .registry import list_models

VENUES = {
    'AAAI': 'AAAI Conference on Artificial Intelligence',
    'CVPR': 'Conference on Computer Vision and Pattern Recognition (CVPR)',
    'ICCV': 'International Conference on Computer Vision (ICCV)',
    'ICLR': 'International Conference on Learning Representations (ICLR)',
    'ICML': 'International Conference on Machine Learning (ICML)',
    'NeurIPS': 'Advances in Neural Information Processing Systems (NeurIPS)',
}


@dataclass(frozen=True)
class Paper:
    key: str  # BibTeX key
    title: str
    authors: Tuple[str, ...]
    year: int
    arxiv_id: str
    venue: str = ''  # a key of VENUES; '' for a preprint

    @property
    def url(self) -> str:
        return f'https://arxiv.org/abs/{self.arxiv_id}'

    def reference(self) -> str:
        """ One Markdown line: the linked title, the authors, where and when. """
        authors = ', '.join(self.authors) if len(self.authors) <= 3 else f'{self.authors[0]} et al.'
        return f'[{self.title}]({self.url}), {authors}, {self.venue or "arXiv"} {self.year} (arXiv:{self.arxiv_id})'

    def bibtex(self) -> str:
        if self.venue:
            where = f'booktitle = {{{VENUES[self.venue]}}}'
        else:
            where = f'journal = {{arXiv preprint arXiv:{self.arxiv_id}}}'
        fields = (f'title = {{{self.title}}}', f'author = {{{" and ".join(self.authors)}}}', where,
                  f'year = {{{self.year}}}', f'eprint = {{{self.arxiv_id}}}', 'archivePrefix = {arXiv}')
        entry = 'inproceedings' if self.venue else 'article'
        return f'@{entry}{{{self.key},\n' + ''.join(f'  {line},\n' for line in fields) + '}'


VIT = Paper(
    'dosovitskiy2021vit', 'An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale',
    ('Alexey Dosovitskiy', 'Lucas Beyer', 'Alexander Kolesnikov', 'Dirk Weissenborn', 'Xiaohua Zhai',
     'Thomas Unterthiner', 'Mostafa Dehghani', 'Matthias Minderer', 'Georg Heigold', 'Sylvain Gelly',
     'Jakob Uszkoreit', 'Neil Houlsby'), 2021, '2010.11929', 'ICLR')
LINFORMER = Paper(
    'wang2020linformer', 'Linformer: Self-Attention with Linear Complexity',
    ('Sinong Wang', 'Belinda Z. Li', 'Madian Khabsa', 'Han Fang', 'Hao Ma'), 2020, '2006.04768')
PERFORMER = Paper(
    'choromanski2021performer', 'Rethinking Attention with Performers',
    ('Krzysztof Choromanski', 'Valerii Likhosherstov', 'David Dohan', 'Xingyou Song', 'Andreea Gane', 'Tamas Sarlos',
     'Peter Hawkins', 'Jared Davis', 'Afroz Mohiuddin', 'Lukasz Kaiser', 'David Belanger', 'Lucy Colwell',
     'Adrian Weller'), 2021, '2009.14794', 'ICLR')
NYSTROMFORMER = Paper(
    'xiong2021nystromformer', 'Nyströmformer: A Nyström-based Algorithm for Approximating Self-Attention',
    ('Yunyang Xiong', 'Zhanpeng Zeng', 'Rudrasis Chakraborty', 'Mingxing Tan', 'Glenn Fung', 'Yin Li', 'Vikas Singh'),
    2021, '2102.03902', 'AAAI')
ATROUS_ATTENTION = Paper(
    'ibtehaz2024fusion', 'Fusion of Regional and Sparse Attention in Vision Transformers',
    ('Nabil Ibtehaz', 'Ning Yan', 'Masood Mortazavi', 'Daisuke Kihara'), 2024, '2406.08859')
LINEAR_ATTENTION = Paper(
    'katharopoulos2020transformers', 'Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention',
    ('Angelos Katharopoulos', 'Apoorv Vyas', 'Nikolaos Pappas', 'François Fleuret'), 2020, '2006.16236', 'ICML')
MIXFORMER = Paper(
    'chen2022mixformer', 'MixFormer: Mixing Features across Windows and Dimensions',
    ('Qiang Chen', 'Qiman Wu', 'Jian Wang', 'Qinghao Hu', 'Tao Hu', 'Errui Ding', 'Jian Cheng', 'Jingdong Wang'),
    2022, '2204.02557', 'CVPR')
LAMBDA_NETWORKS = Paper(
    'bello2021lambdanetworks', 'LambdaNetworks: Modeling Long-Range Interactions Without Attention',
    ('Irwan Bello',), 2021, '2102.08602', 'ICLR')
RESNET = Paper(
    'he2016resnet', 'Deep Residual Learning for Image Recognition',
    ('Kaiming He', 'Xiangyu Zhang', 'Shaoqing Ren', 'Jian Sun'), 2016, '1512.03385', 'CVPR')
PERCEIVER = Paper(
    'jaegle2021perceiver', 'Perceiver: General Perception with Iterative Attention',
    ('Andrew Jaegle', 'Felix Gimeno', 'Andrew Brock', 'Andrew Zisserman', 'Oriol Vinyals', 'João Carreira'),
    2021, '2103.03206', 'ICML')
PERCEIVER_IO = Paper(
    'jaegle2022perceiverio', 'Perceiver IO: A General Architecture for Structured Inputs & Outputs',
    ('Andrew Jaegle', 'Sebastian Borgeaud', 'Jean-Baptiste Alayrac', 'Carl Doersch', 'Catalin Ionescu', 'David Ding',
     'Skanda Koppula', 'Daniel Zoran', 'Andrew Brock', 'Evan Shelhamer', 'Olivier Hénaff', 'Matthew M. Botvinick',
     'Andrew Zisserman', 'Oriol Vinyals', 'João Carreira'), 2022, '2107.14795', 'ICLR')
MLP_MIXER = Paper(
    'tolstikhin2021mlpmixer', 'MLP-Mixer: An all-MLP Architecture for Vision',
    ('Ilya Tolstikhin', 'Neil Houlsby', 'Alexander Kolesnikov', 'Lucas Beyer', 'Xiaohua Zhai', 'Thomas Unterthiner',
     'Jessica Yung', 'Andreas Steiner', 'Daniel Keysers', 'Jakob Uszkoreit', 'Mario Lucic', 'Alexey Dosovitskiy'),
    2021, '2105.01601', 'NeurIPS')
SWIN = Paper(
    'liu2021swin', 'Swin Transformer: Hierarchical Vision Transformer using Shifted Windows',
    ('Ze Liu', 'Yutong Lin', 'Yue Cao', 'Han Hu', 'Yixuan Wei', 'Zheng Zhang', 'Stephen Lin', 'Baining Guo'),
    2021, '2103.14030', 'ICCV')
TNT = Paper(
    'han2021tnt', 'Transformer in Transformer',
    ('Kai Han', 'An Xiao', 'Enhua Wu', 'Jianyuan Guo', 'Chunjing Xu', 'Yunhe Wang'), 2021, '2103.00112', 'NeurIPS')


@dataclass(frozen=True)
class ModelFamily:
    """ What the cards say of one module of timm_attnzoo/models/, read off its code and docs/models.md. """
    module: str
    title: str
    papers: Tuple[Paper, ...]
    architecture: str
    intended_use: str
    limitations: Tuple[str, ...]
    tags: Tuple[str, ...]  # Hub tags of the family; its attention layers add theirs (ATTENTION_TAGS)


FAMILIES = {family.module: family for family in (
    ModelFamily(
        'efficient_attention_vit', 'Efficient-attention Vision Transformers',
        (VIT, LINFORMER, PERFORMER, NYSTROMFORMER, ATROUS_ATTENTION, LINEAR_ATTENTION),
        "timm's `VisionTransformer` (patch embedding, class token, learned position embedding, pre-norm blocks, a "
        "linear head on the class token) whose blocks hold the zoo's attention layers: the same one in every block "
        "(`attn_type`) or one per block (`layers`). The six single-attention variants share patch 4, width 48, "
        "depth 4, 4 heads and an MLP of 192, and differ only in the attention: softmax (exact, through "
        "`F.scaled_dot_product_attention`); Linformer, keys and values projected along the sequence to k = 32 by "
        "learned E and F shared across heads; Performer (FAVOR+), m = 64 orthogonal random features per head with the "
        "positive softmax kernel or the ReLU kernel, contracted linearly in float32; Nyströmformer, 16 segment-mean "
        "landmarks, 6 iterations of the pseudo-inverse and a depthwise convolution of 33 on the values; and a "
        "dilated + linear hybrid after Ibtehaz et al. 2024: 2 heads of softmax attention inside 4x4 windows of the "
        "patch grid at dilations 1 and 2 (the class token global), and 2 heads of global linear attention with "
        "phi(x) = elu(x) + 1 (Katharopoulos et al. 2020). The Performer patterns (width 64, depth 6, 4 heads, "
        "mlp_ratio 2) put 3 Performer blocks before 3 softmax blocks, after them, or alternate the two. At 28x28 the "
        "4-pixel patches make a 7x7 grid: 49 patch tokens and the class token.",
        'Comparing attention mechanisms in one architecture: the single-attention variants differ only in their '
        "attention layer, so their differences in accuracy and cost are the attention's.",
        ("Built for one input size: loaded into a model of another `img_size`, timm resamples the position "
         "embedding (and the Linformer projections with it), an interpolation of the trained weights.",
         'Linformer\'s E and F are k x n matrices tied to the sequence length n (50 tokens at 28x28): at another '
         'length the layer raises a ValueError until `set_input_size()` or loading resamples them over the patch grid.',
         'The dilated + linear layer is tied to its patch grid as well; the 7x7 grid of a 28x28 image is padded to '
         "the windows' span, the padded keys masked.",
         'Performer attention is a random-feature estimate of softmax attention: the features drawn last in training '
         'are saved with the weights and fixed in eval; further training redraws them every '
         '`feature_redraw_interval` (1000) steps. A trained model\'s accuracy depends on its draw, so a redraw shortly '
         'before the end of training, at a learning rate near zero, costs accuracy. The `fmnist_e30` weights kept '
         'their first features throughout (`feature_redraw_interval=0`) and are tied to them: other draws take '
         '`vit_performer_cifar` from 89% to 24-42% top-1 (`benchmarks/performer_feature_draws.py`, docs/results.md), so '
         'fine-tune them with `feature_redraw_interval=0` too.',
         'Nyströmformer approximates softmax attention through its landmarks; it is exact only with as many landmarks '
         'as tokens.',
         "At 50 tokens Linformer's k = 32 projections and Performer's m = 64 features are about as large as the "
         'sequence, so these layers cost about as much as softmax attention or more (`attnzoo models` counts them); '
         "the savings their papers report appear at long sequences (`attnzoo scaling`, docs/scaling.md)."),
        ('vision-transformer', 'efficient-attention')),
    ModelFamily(
        'mixformer', 'MixFormer and the MixFormer-Lambda hybrid', (MIXFORMER, LAMBDA_NETWORKS),
        'MixFormer as the official PaddleClas implementation builds it, adapted to small images: a convolutional stem '
        '(three 3x3 conv-BN-GELU and a 2x2 patch projection), four stages of mixing blocks joined by BN and a 2x2 '
        'stride-2 convolution, and a head that projects every token to 1280 channels, applies GELU, pools and '
        'classifies. In each mixing block half the channels go through window attention with a relative position '
        'bias and all of them through a 3x3 depth-wise convolution, and the two branches gate each other: the channel '
        'interaction (pooled conv features, two 1x1 convs, sigmoid) scales the attention values per channel, the '
        'spatial interaction (attention output, two 1x1 convs, sigmoid) scales the conv branch per position; then '
        'concatenation and a projection. The MixFormer-Lambda hybrid (`mixer=\'lambda\'`) puts a lambda layer '
        '(|k| = 16, |u| = 1) on each window in place of the window attention, with learned position embeddings in '
        'place of the relative position bias. Full size: widths 64-512, depths 2-2-6-7, heads 2-4-8-16 and windows '
        '4-4-4-2 on a patch-2 stem; `_tiny`: widths 32-256, depths 1-2-3-2. The ablations switch parts off: the conv '
        'branch, then the lambda layer, in sequence (`_seq`), no interaction (`_noint`), no spatial (`_nospatial`) or '
        'no channel (`_nochannel`) interaction, and MixFormer without the relative position bias (`_norpb`).',
        'Studying the MixFormer-Lambda hybrid against MixFormer, and what each part contributes (the ablations); the '
        '`_tiny` variants train on a CPU.',
        ('At 28x28 the patch-2 stem gives a 14x14 grid that 4x4 windows do not tile: as in PaddleClas, each block '
         'zero-pads its map to whole windows and each merge to an even size, and padded positions are not masked.',
         "The hybrid's learned position embeddings are tied to the window area (window area x window area x |k|): "
         'its windows cannot change size without new embeddings.'),
        ('mixformer',)),
    ModelFamily(
        'lambda_resnet', 'ResNet-50 and Lambda-ResNet for small images', (RESNET, LAMBDA_NETWORKS),
        "timm's ByobNet with a small-image stem, one 3x3 convolution at stride 1 and no pooling, so the image enters "
        'the first stage at full resolution. `resnet50_cifar` is ResNet-50 (bottleneck stages c2-c5 of 3, 4, 6 and 3 '
        'blocks, v1.5 strides). `lambda_resnet50_cifar` replaces the 3x3 convolution of every bottleneck in c4 and c5 '
        'with a lambda layer (|k| = 16, |h| = 4, |u| = 1, position lambdas from a lambda convolution of size r = 9), '
        "the 'C -> C -> L -> L' hybrid of the LambdaNetworks paper's Table 5: a content lambda, softmax-normalized "
        'keys times values over the whole map, and a position lambda per query, applied to the queries. A stride-2 '
        'block average-pools the lambda output. `lambda_resnet_tiny_cifar` is the hybrid with two bottlenecks per '
        'stage (26 layers) at a quarter of the width.',
        'Comparing lambda layers with the convolutions they replace, in the same network.',
        ('`resnet50_cifar` has no attention: it is the convolutional baseline of the hybrid.',
         'The lambda convolution gives each position lambda a 9x9 scope; only the content lambda sees the whole map.'),
        ('resnet',)),
    ModelFamily(
        'perceiver', 'Perceiver and Perceiver IO for images', (PERCEIVER, PERCEIVER_IO),
        'The input is the byte array of pixels, each its channels and 2 (2K + 1) Fourier features of its position '
        '(K = 6 bands up to mu = 10), built once per input size. A learned latent array cross-attends to the pixels '
        '(`F.scaled_dot_product_attention`), then a latent transformer runs; the pair repeats `depth` times. The '
        'pixels never attend to each other, so the cost is linear in their number. `perceiver_cifar`: depth 4, 32 '
        'latents of width 64, 1 cross head and 8 latent heads of width 32, 2 latent blocks per cross-attend, a '
        'classifier on the averaged latents. `perceiver_io_cifar`: one cross-attend and 2 latent blocks, 32 latents '
        'of width 64, heads of width 128, and a decoder in which a learned 10-wide query cross-attends to the '
        "latents. The blocks are laid out as perceiver-pytorch's (pre-norm, GEGLU MLPs).",
        'An attention architecture whose cost grows linearly with the number of pixels: a reference point for the '
        'efficient attentions.',
        ('The latents have no spatial grid: there is no `features_only`; `forward_intermediates` returns the latent '
         'array.',
         "For another `in_chans` than the weights were trained on, the loader adapts the pixel columns of the "
         "cross-attention's context norm and kv projection (`checkpoint_filter_fn`), which gives an initialization, "
         'not the same function.',
         'The model runs at any image size (the position features are rebuilt), but the weights have only seen the '
         'size they were trained at.'),
        ('perceiver',)),
    ModelFamily(
        'mlp_mixer', 'MLP-Mixer for small images', (MLP_MIXER,),
        "timm's `MlpMixer`: each block mixes tokens with an MLP across the patches, then channels with an MLP across "
        "each patch's features; there is no attention. Mixer-S: 8 blocks of width 512, token and channel MLPs 256 and "
        '2048 wide, on 4x4 patches (49 at 28x28).',
        'An attention-free baseline for the attention models.',
        ('The token-mixing MLPs are sized for the number of patches (49 at 28x28): the weights load only into a model '
         'of the input size they were trained at.',),
        ('mlp-mixer',)),
    ModelFamily(
        'swin_transformer', 'Swin Transformer for small images', (SWIN,),
        "timm's `SwinTransformer`: softmax attention inside windows with a relative position bias, the windows "
        'shifted by half in every second block, and patch merging between four stages. Width 64, depths 2-2-8-2, '
        'heads 2-4-8-16, on 2x2 patches with 4x4 windows: at 28x28 the stage grids are 14, 7, 4 and 2, timm pads the '
        'first two to whole windows, and the last two fit in one window that does not shift (attention over the '
        'whole stage).',
        'A window-attention baseline: at 32x32 its stage grids are those of `mixformer_cifar`, so the two window '
        'attentions compare like for like.',
        ("Built for one input size: timm computes the windows and the shifted windows' masks for `img_size`.",),
        ('swin-transformer',)),
    ModelFamily(
        'tnt', 'Transformer in Transformer (TNT) for small images', (TNT,),
        "timm's `TNT`: an inner transformer attends among the pixel tokens of each patch and adds its flattened output "
        'to the patch token, and an outer transformer attends among the patches. 6 blocks, patch tokens of width 512 '
        'with 8 heads, pixel tokens of width 24 with 4 heads, 4x4 patches of 2x2 pixel tokens (timm embeds them with '
        'a 7x7 convolution at stride 2 inside each patch), no bias in the qkv projections.',
        'A nested-attention baseline: attention within and across patches.',
        ('Built for one input size: the patch and pixel position embeddings are sized for the patch grid (49 patches '
         'at 28x28).',),
        ('transformer-in-transformer',)),
)}

ATTENTION_TAGS = {  # model_table.attention_layers names -> Hub tags; softmax attention adds none
    'LinformerAttention': ('linformer',),
    'PerformerAttention': ('performer',),
    'NystromAttention': ('nystromformer',),
    'DilatedLinearAttention': ('dilated-attention', 'linear-attention'),
    'LambdaLayer': ('lambda-networks',),
    'WindowAttention': ('window-attention',),
    'timm.WindowAttention': ('window-attention',),
    'CrossAttention': ('cross-attention',),
}


def family_of(model_name: str) -> str:
    """ The module of timm_attnzoo/models/ that registers `model_name`, tagged ('vit_cifar.fmnist_e30') or not. """
    architecture = split_model_name_tag(model_name)[0]
    module = model_entrypoint(architecture).__module__ if timm.is_model(architecture) else ''
    if not module.startswith('timm_attnzoo.models.'):
        raise ValueError(f'{model_name!r} is not a model of timm_attnzoo; its models: {", ".join(list_models())}.')
    return module.rsplit('.', 1)[-1]


def family_models(family: str) -> List[str]:
    """ The registered models of a family, sorted. """
    if family not in FAMILIES:
        raise ValueError(f'family={family!r} is not one of {", ".join(FAMILIES)}.')
    return [name for name in list_models() if family_of(name) == family]
