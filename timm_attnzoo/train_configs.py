""" Configurations for timm's train.py: every seed experiment, and Fashion-MNIST for every registered model.

`attnzoo write-configs` writes them to train_configs/ as YAML (`python train.py -c FILE --data-dir DIR`); the
files are committed and tests hold them equal to what this module writes. Each loads the plugin through
`device_modules`. Where a seed trained with something train.py cannot express, the file says what stands in.

timm's scheduler, for the MixFormer-Lambda warm-ups: the warm-up runs linearly from `warmup_lr` to `lr`, so a
constant warm-up is `warmup_lr` equal to `lr`; `warmup_prefix` starts the cosine after the warm-up, and
`epochs` is the cosine's length, train.py adding the warm-up epochs to it (create_scheduler_v2).
"""
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import yaml

from .dataset_specs import DATA_SETS, size_kwargs
from .registry import list_models

# timm's RandomResizedCrop at 64-100% of the area stands in for the seeds' RandomCrop(32, padding=4), which
# timm's transforms do not have (a 32 crop of the 40x40 padded image covers 64% of it)
PAD_CROP_AUG = dict(scale=[0.64, 1.0], ratio=[0.75, 1.3333333333333333], hflip=0.5, color_jitter=0.0)
NO_AUG = dict(scale=[1.0, 1.0], ratio=[1.0, 1.0], hflip=0.0, color_jitter=0.0)
# a constant lr: train.py needs a scheduler (it logs the scheduler's t_in_epochs), so a step that never decays
CONSTANT_LR = dict(sched='step', decay_rate=1.0, warmup_epochs=0)


@dataclass(frozen=True)
class TrainConfig:
    path: str  # relative to train_configs/
    title: str
    data_set: str
    args: Dict[str, Any]  # train.py's arguments besides the data set's
    notes: Tuple[str, ...] = ()

    def render(self) -> str:
        """ The YAML file: a comment saying what it is and how to run it, then train.py's arguments. """
        data = DATA_SETS[self.data_set]
        head = [self.title, *self.notes, 'Written by `attnzoo write-configs`; after `attnzoo prepare-data` (docs/data.md):',
                f'  python train.py -c train_configs/{self.path} --data-dir {data.data_dir}']
        args = dict(device_modules=['timm_attnzoo'], model=self.args['model'])
        args.update({k: v for k, v in self.args.items() if k == 'model_kwargs'})
        args.update(data.train_py_args())
        args.update({k: v for k, v in self.args.items() if k not in ('model', 'model_kwargs')})
        body = yaml.safe_dump(args, sort_keys=False, default_flow_style=None, width=120)
        return ''.join(f'# {line}\n' for line in head) + body


def _config(path, title, data_set, model, recipe, model_kwargs=None, notes=()) -> TrainConfig:
    model_kwargs = {**size_kwargs(model, data_set), **(model_kwargs or {})}
    args = dict(model=model, **({'model_kwargs': model_kwargs} if model_kwargs else {}), **recipe)
    return TrainConfig(path, title, data_set, args, tuple(notes))


FASHION_MNIST_RECIPE = dict(
    batch_size=128, epochs=30, opt='adamw', lr=1e-3, weight_decay=0.05, sched='cosine', warmup_epochs=1,
    smoothing=0.1, scale=[0.75, 1.0], color_jitter=0.0, workers=2)


def _fixed_performer_features(attn_type: str) -> Dict[str, Any]:
    return {'attn_kwargs': {attn_type: {'num_features': 64, 'feature_redraw_interval': 0}}}


# The Performer models keep the features they start with. Redrawn every 1000 steps (the layer's default), the last
# of the recipe's 14 redraws comes 40 steps before the end, where the cosine has taken the learning rate to about
# zero: vit_performer_cifar trained so ended at 81.87% top-1, and 77-87% with other draws (docs/results.md).
FASHION_MNIST_MODEL_KWARGS = {
    'vit_performer_cifar': _fixed_performer_features('performer'),
    'vit_performer_relu_cifar': _fixed_performer_features('performer_relu'),
    'vit_performer_reg_cifar': _fixed_performer_features('performer'),
    'vit_reg_performer_cifar': _fixed_performer_features('performer'),
    'vit_performer_intertwined_cifar': _fixed_performer_features('performer'),
}
FIXED_FEATURES_NOTE = ('The Performer features are drawn once and kept (feature_redraw_interval 0; docs/results.md).',)


# swin_cifar diverged to chance in 5 epochs of the shared recipe (docs/results.md): it takes the Swin paper's lr of
# 1e-3 at batch 1024 scaled linearly to the recipe's 128, its warm-up of 20 in 300 epochs (2 of 30) and its
# gradient clipping at norm 5
FASHION_MNIST_MODEL_RECIPES = {
    'swin_cifar': dict(lr=1.25e-4, warmup_epochs=2, clip_grad=5.0),
}
FASHION_MNIST_MODEL_RECIPE_NOTES = {
    'swin_cifar': "lr, warm-up and clipping are the Swin paper's, scaled to batch 128: with the shared recipe it "
                  'diverged to chance in 5 epochs (docs/results.md).',
}


def fashion_mnist_configs() -> List[TrainConfig]:
    configs = []
    for name in list_models():
        own = FASHION_MNIST_MODEL_RECIPES.get(name)
        notes = ((FIXED_FEATURES_NOTE if name in FASHION_MNIST_MODEL_KWARGS else ())
                 + tuple(textwrap.wrap(FASHION_MNIST_MODEL_RECIPE_NOTES.get(name, ''), 110)))
        configs.append(_config(
            f'fashion_mnist/{name}.yaml',
            f'{name} on Fashion-MNIST with the shared recipe{" and its own " + ", ".join(own) if own else ""}.',
            'fashion_mnist', name, {**FASHION_MNIST_RECIPE, **(own or {})},
            model_kwargs=FASHION_MNIST_MODEL_KWARGS.get(name), notes=notes))
    return configs


# 'MixFormer with Lambda layers' seed (main.py): AdamW, cosine to 1e-6 over 200 epochs including warm-up,
# batch 128, cross-entropy without smoothing, crop and flip; its README's warm-up configurations #1-#6
MIXFORMER_LAMBDA_WARMUPS = (  # (number, kind, epochs, lr)
    (1, 'constant', 20, 1e-3), (2, 'constant', 20, 1e-2), (3, 'constant', 10, 1e-3),
    (4, 'linear', 20, 1e-3), (5, 'linear', 20, 1e-2), (6, 'linear', 10, 1e-3),
)
MIXFORMER_LAMBDA_TOTAL_EPOCHS = 200
MIXFORMER_LAMBDA_LINEAR_WARMUP_FROM = 1e-5
MIXFORMER_LAMBDA_ABLATIONS = (  # the seed's numbering; each run with warm-up configuration #1
    'mixformer_lambda_cifar', 'mixformer_lambda_seq_cifar', 'mixformer_lambda_noint_cifar',
    'mixformer_lambda_nospatial_cifar', 'mixformer_lambda_nochannel_cifar', 'mixformer_norpb_cifar',
)


def mixformer_lambda_recipe(kind: str, warmup_epochs: int, lr: float) -> Dict[str, Any]:
    return dict(
        batch_size=128, epochs=MIXFORMER_LAMBDA_TOTAL_EPOCHS - warmup_epochs, opt='adamw', opt_betas=[0.9, 0.999],
        lr=lr, weight_decay=0.04, sched='cosine', min_lr=1e-6, warmup_epochs=warmup_epochs,
        warmup_lr=lr if kind == 'constant' else MIXFORMER_LAMBDA_LINEAR_WARMUP_FROM, warmup_prefix=True,
        smoothing=0.0, **PAD_CROP_AUG)


def _warmup_note(kind: str, warmup_epochs: int, lr: float) -> Tuple[str, ...]:
    start = lr if kind == 'constant' else MIXFORMER_LAMBDA_LINEAR_WARMUP_FROM
    return (f'Warm-up: {warmup_epochs} epochs from warmup_lr {start:g} to lr {lr:g}; timm ramps linearly between the two, so',
            'equal values hold the lr constant. warmup_prefix starts the cosine after the warm-up, and train.py',
            f'trains epochs + warmup_epochs = {MIXFORMER_LAMBDA_TOTAL_EPOCHS} epochs, as the seed\'s SequentialLR did.')


def mixformer_lambda_configs() -> List[TrainConfig]:
    configs = []
    for number, kind, warmup_epochs, lr in MIXFORMER_LAMBDA_WARMUPS:
        configs.append(_config(
            f'mixformer_lambda/warmup{number}_{kind}{warmup_epochs}_lr{lr:g}.yaml',
            f'MixFormer-Lambda on CIFAR-10, the seed\'s warm-up configuration #{number}: {kind}, '
            f'{warmup_epochs} epochs, lr {lr:g}, then cosine.', 'cifar10', 'mixformer_lambda_cifar',
            mixformer_lambda_recipe(kind, warmup_epochs, lr), notes=_warmup_note(kind, warmup_epochs, lr)))
    number, kind, warmup_epochs, lr = MIXFORMER_LAMBDA_WARMUPS[0]
    for ablation, model in enumerate(MIXFORMER_LAMBDA_ABLATIONS):
        configs.append(_config(
            f'mixformer_lambda/ablation{ablation}_{model}.yaml',
            f'The seed\'s ablation #{ablation}, {model} (docs/models.md), on CIFAR-10 with warm-up configuration #1.',
            'cifar10', model, mixformer_lambda_recipe(kind, warmup_epochs, lr),
            notes=_warmup_note(kind, warmup_epochs, lr)))
    return configs


def lambda_resnet_configs() -> List[TrainConfig]:
    """ The Lambda-ResNet seed: Adam (betas 0.9, 0.9999), weight decay 1e-4, batch 128, 90 epochs, smoothing 0.1. """
    recipe = dict(
        batch_size=128, epochs=85, opt='adam', opt_betas=[0.9, 0.9999], lr=5e-4, weight_decay=1e-4,
        sched='cosine', min_lr=0.0, warmup_epochs=5, warmup_lr=1e-4, warmup_prefix=True, smoothing=0.1,
        **PAD_CROP_AUG)
    notes = ('The seed multiplied its lr by 1..5 over 5 epochs, then restarted a cosine at 5e-4 that only half',
             'decayed (T_max 170 over 85 epochs); here 5 epochs ramp from 1e-4 to 5e-4 and the cosine runs to 0.')
    return [_config(f'lambda_resnet/{model}.yaml', f'{model} on CIFAR-10 with label smoothing 0.1.', 'cifar10',
                    model, recipe, notes=notes) for model in ('resnet50_cifar', 'lambda_resnet50_cifar')]


VIT_ATTENTION_MODELS = (
    'vit_cifar', 'vit_linformer_cifar', 'vit_performer_cifar', 'vit_performer_relu_cifar', 'vit_nystrom_cifar',
    'vit_dilated_linear_cifar')


def vit_configs() -> List[TrainConfig]:
    """ The efficient-attention ViT seed: AdamW at 1e-2, weight decay 1e-2, batch 256, 100 epochs of cosine. """
    recipe = dict(
        batch_size=256, epochs=100, opt='adamw', lr=1e-2, weight_decay=1e-2, sched='cosine', warmup_epochs=0,
        smoothing=0.1, drop=0.1, scale=[0.8, 1.0], hflip=0.5)
    configs = []
    for model in VIT_ATTENTION_MODELS:
        configs.append(_config(
            f'vit/cifar10/{model}.yaml', f'{model} on CIFAR-10 with the seed\'s recipe.', 'cifar10', model,
            dict(recipe, color_jitter=0.0)))
        configs.append(_config(
            f'vit/imagenet100/{model}.yaml', f'{model} on ImageNet-100 at 224 with 16x16 patches.', 'imagenet100',
            model, dict(recipe, color_jitter=0.4), model_kwargs=dict(patch_size=16),
            notes=('The seed planned ImageNet-100 and ran Imagenette at 160 with 8x8 patches; this is the plan.',)))
    return configs


PERFORMER_PATTERNS = {  # registered model: its layer pattern at an even depth, from Performer ('p') and softmax
    'vit_performer_reg_cifar': lambda depth, p: [p] * (depth // 2) + ['softmax'] * (depth // 2),
    'vit_reg_performer_cifar': lambda depth, p: ['softmax'] * (depth // 2) + [p] * (depth // 2),
    'vit_performer_intertwined_cifar': lambda depth, p: [p, 'softmax'] * (depth // 2),
}
PERFORMER_KERNELS = {'softmax': 'performer', 'relu': 'performer_relu'}
PERFORMER_DEPTHS = (2, 6)
PERFORMER_FEATURES = (16, 32, 64, 128, 256)


def performer_pattern_configs() -> List[TrainConfig]:
    """ The hybrid Performer seed: AdamW 3e-4, weight decay 0.05, batch 128, 40 epochs at a constant lr. """
    recipe = dict(batch_size=128, epochs=40, opt='adamw', lr=3e-4, weight_decay=0.05, smoothing=0.0, **CONSTANT_LR)
    configs = []
    for data_set, aug in (('mnist', NO_AUG), ('cifar10', PAD_CROP_AUG)):
        for model, pattern in PERFORMER_PATTERNS.items():
            for depth in PERFORMER_DEPTHS:
                for kernel, attn in PERFORMER_KERNELS.items():
                    for m in PERFORMER_FEATURES:
                        short = model[len('vit_'):-len('_cifar')]
                        configs.append(_config(
                            f'performer_patterns/{data_set}/{short}_depth{depth}_m{m}_{kernel}.yaml',
                            f'{model} at depth {depth}, m = {m} {kernel}-kernel features, on {data_set}.',
                            data_set, model, dict(recipe, **aug),
                            model_kwargs=dict(depth=depth, layers=pattern(depth, attn),
                                              attn_kwargs={attn: dict(num_features=m)})))
    return configs


FROM_SCRATCH_MODELS = ('perceiver_io_cifar', 'perceiver_cifar', 'mixer_cifar', 'swin_cifar', 'tnt_cifar')
PERCEIVER_IO_SIZES = {  # the seed's Perceiver IO per data set (docs/models.md)
    'stl10': dict(num_latents=96, latent_dim=192, cross_head_dim=64, latent_head_dim=64),
    'tiny_imagenet': dict(decoder_query_dim=200, cross_head_dim=64, latent_head_dim=64),
}
FROM_SCRATCH_RECIPE = dict(  # the Perceiver seed's AdamW (torch's default weight decay) at a constant lr
    batch_size=128, epochs=100, opt='adamw', lr=3e-4, weight_decay=0.01, smoothing=0.0, **CONSTANT_LR, **PAD_CROP_AUG)


def from_scratch_configs() -> List[TrainConfig]:
    """ Perceiver IO, Perceiver, MLP-Mixer, Swin and TNT from scratch on CIFAR-10, STL-10 and Tiny ImageNet. """
    configs = []
    for data_set in ('cifar10', 'stl10', 'tiny_imagenet'):
        for model in FROM_SCRATCH_MODELS:
            kwargs = PERCEIVER_IO_SIZES.get(data_set, {}) if model == 'perceiver_io_cifar' else {}
            configs.append(_config(
                f'from_scratch/{data_set}/{model}.yaml', f'{model} from scratch on {data_set}, batch 128, lr 3e-4.',
                data_set, model, FROM_SCRATCH_RECIPE, model_kwargs=kwargs))
    return configs


PERCEIVER_IO_BATCH_SIZES = (16, 32, 64, 128)
PERCEIVER_IO_LEARNING_RATES = (1e-1, 1e-2, 1e-3, 1e-4)


def perceiver_io_ablation_configs() -> List[TrainConfig]:
    """ The seed's Perceiver IO ablations on CIFAR-10: batch size at lr 3e-4, lr at batch 128 (12 epochs). """
    configs = [_config(
        f'perceiver_io_ablations/batch{batch}.yaml', f'perceiver_io_cifar on CIFAR-10 at batch {batch}, lr 3e-4.',
        'cifar10', 'perceiver_io_cifar', dict(FROM_SCRATCH_RECIPE, batch_size=batch))
        for batch in PERCEIVER_IO_BATCH_SIZES]
    configs += [_config(
        f'perceiver_io_ablations/lr{lr:g}.yaml', f'perceiver_io_cifar on CIFAR-10 at lr {lr:g}, batch 128, 12 epochs.',
        'cifar10', 'perceiver_io_cifar', dict(FROM_SCRATCH_RECIPE, lr=lr, epochs=12))
        for lr in PERCEIVER_IO_LEARNING_RATES]
    return configs


def all_train_configs() -> List[TrainConfig]:
    return (fashion_mnist_configs() + mixformer_lambda_configs() + lambda_resnet_configs() + vit_configs()
            + performer_pattern_configs() + from_scratch_configs() + perceiver_io_ablation_configs())


def written_folders(configs: Sequence[TrainConfig]) -> List[str]:
    """ The folders the command owns: every YAML in them is one it writes. """
    return sorted({config.path.split('/')[0] for config in configs})


def write_train_configs(folder: Union[str, Path]) -> List[Path]:
    """ Write every configuration under folder (stale YAML in the command's folders removed); returns the paths. """
    folder, configs = Path(folder), all_train_configs()
    for owned in written_folders(configs):
        for stale in (folder / owned).rglob('*.yaml'):
            stale.unlink()
    paths = []
    for config in configs:
        path = folder / config.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config.render())
        paths.append(path)
    return paths
