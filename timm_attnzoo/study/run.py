""" One run of a study: a model trained and measured with timm's own pieces, resumable epoch by epoch.

timm's `create_dataset` and `create_loader` (its transforms; `Mixup` when the recipe mixes), `create_optimizer_v2`
and `create_scheduler_v2` from the run's recipe (the study's, under its model's `model_recipes`) as train.py reads
its arguments, timm's `dispatch_clip_grad` where it clips, `timm.task.ClassificationTask` for the loss and its
evaluator for validation, and timm's `CheckpointSaver` after every epoch, which `resume_task_checkpoint` reads
back: an interrupted run loses at most the epoch it was in. Every epoch starts from the seed plus its index (timm's
`random_seed`: the data order, augmentation, mixup, dropout), so a resumed run trains its remaining epochs exactly
as an uninterrupted one does, on the same machine and thread count.

Nothing is left half-written by a crash: the checkpoint is written beside `last.pth.tar` and renamed over it
(`CheckpointSaver`), and the run's own files the same way.

A run's folder holds config.yaml (what it resolved to), metrics.csv (a row per finished epoch), last.pth.tar
while it trains, and when it is done weights/ (timm's Hub layout: config.json and model.safetensors, loadable
with `timm.create_model('local-dir:<run>/weights', pretrained=True)`) and summary.json, whose presence marks the
run finished.
"""
import csv
import io
import json
import time
from argparse import Namespace
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Tuple

import timm
import torch
import yaml
from timm.data import Mixup, create_dataset, create_loader
from timm.models import model_parameters, save_for_hf
from timm.optim import create_optimizer_v2, optimizer_kwargs
from timm.scheduler import create_scheduler_v2, scheduler_kwargs
from timm.task import ClassificationTask, resume_task_checkpoint
from timm.utils import CheckpointSaver, dispatch_clip_grad, random_seed
from torch.utils.data import Subset
from tqdm import tqdm

from ..dataset_specs import DATA_SETS, DataSetSpec, img_size_kwargs
from ..measure import model_costs
from .spec import ModelRun, Recipe, Study, run_recipe

METRICS_FIELDS = ('epoch', 'lr', 'epoch_time_s', 'train_loss', 'train_top1', 'val_loss', 'val_top1', 'val_top5')
LAST_CHECKPOINT = 'last.pth.tar'
SUMMARY = 'summary.json'
WEIGHTS = 'weights'


class TransformedSubset(Subset):
    """ A fixed subset whose `transform` is its data set's, so that timm's `create_loader` can set it. """

    @property
    def transform(self):
        return self.dataset.transform

    @transform.setter
    def transform(self, transform) -> None:
        self.dataset.transform = transform


def _dataset(data: DataSetSpec, data_root: Path, split: str, samples: int, seed: int):
    root = data.data_dir.replace('DIR', str(data_root))
    dataset = create_dataset(data.dataset, root=root, split=split, is_training=split == 'train')
    if samples and samples < len(dataset):
        indices = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:samples]
        dataset = TransformedSubset(dataset, indices.tolist())
    return dataset


def run_input_size(data_set: str, run: ModelRun) -> Tuple[int, int, int]:
    """ The run's input: the data set's images, or resized to the run's img_size. """
    channels, height, width = DATA_SETS[data_set].input_size
    return (channels, run.img_size, run.img_size) if run.img_size else (channels, height, width)


def _loaders(study: Study, recipe: Recipe, data_root: Path, input_size: Tuple[int, int, int]) -> Tuple[Any, Any]:
    data = DATA_SETS[study.data_set]
    common = dict(
        input_size=input_size, batch_size=recipe.batch_size, use_prefetcher=False, mean=data.mean, std=data.std,
        num_workers=recipe.workers, persistent_workers=False, crop_pct=1.0)
    train = create_loader(
        _dataset(data, data_root, 'train', study.train_samples, recipe.seed), is_training=True,
        scale=recipe.scale, ratio=recipe.ratio, hflip=recipe.hflip, color_jitter=recipe.color_jitter, **common)
    val = create_loader(_dataset(data, data_root, 'validation', study.val_samples, recipe.seed), **common)
    return train, val


def run_model_args(data_set: str, run: ModelRun) -> Dict[str, Any]:
    """ The run's model arguments, sized for its input as train.py would build it. """
    data = DATA_SETS[data_set]
    return dict(img_size_kwargs(run.model, run_input_size(data_set, run)[-1]), in_chans=data.input_size[0],
                num_classes=data.num_classes, **run.kwargs)


def create_run_model(study: Study, run: ModelRun) -> torch.nn.Module:
    return timm.create_model(run.model, **run_model_args(study.data_set, run))


def read_epoch_rows(path: Path) -> List[Dict[str, float]]:
    """ A CSV of a row per epoch (a run's metrics.csv, timm train.py's summary.csv): the epoch an int, every other
    cell a float, empty cells left out. """
    with path.open() as f:
        return [{k: int(v) if k == 'epoch' else float(v) for k, v in row.items() if v != ''} for row in csv.DictReader(f)]


def read_metrics(run_dir: Path) -> List[Dict[str, float]]:
    path = run_dir / 'metrics.csv'
    return read_epoch_rows(path) if path.exists() else []


def _write_atomically(path: Path, text: str) -> None:
    """ `path` holds its old text or `text`, never a part of it: written beside it, then renamed over it. """
    partial = path.with_name(path.name + '.partial')
    partial.write_text(text)
    partial.replace(path)


def _write_metrics(run_dir: Path, rows: List[Dict[str, float]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=METRICS_FIELDS, lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    _write_atomically(run_dir / 'metrics.csv', text.getvalue())


def _train_one_epoch(task, loader, optimizer, scheduler, mixup, recipe: Recipe, device, num_updates: int, desc: str):
    task.train()
    loss_sum, correct, seen = 0., 0, 0
    bar = tqdm(loader, desc=desc, unit='batch', leave=False, dynamic_ncols=True)
    for x, y in bar:
        x, y = x.to(device), y.to(device)
        result = task(*mixup(x, y)) if mixup is not None else task(x, y)
        optimizer.zero_grad(set_to_none=True)
        result['loss'].backward()
        if recipe.clip_grad is not None:
            dispatch_clip_grad(  # as train.py clips: adaptive clipping leaves the classifier out
                model_parameters(task.trainable_module, exclude_head='agc' in recipe.clip_mode),
                value=recipe.clip_grad, mode=recipe.clip_mode)
        optimizer.step()
        num_updates += 1
        if scheduler is not None:
            scheduler.step_update(num_updates=num_updates)
        loss_sum += result['loss'].item() * y.shape[0]
        correct += (result['output'].argmax(-1) == y).sum().item()  # against the unmixed labels
        seen += y.shape[0]
        bar.set_postfix(loss=f'{loss_sum / seen:.3f}', top1=f'{100 * correct / seen:.1f}')
    return loss_sum / seen, 100 * correct / seen, num_updates


@torch.no_grad()
def _evaluate(task, loader, device) -> Dict[str, float]:
    model = task.get_eval_model().eval()
    evaluator = task.create_evaluator()
    for x, y in loader:
        evaluator.update(model(x.to(device)), y.to(device))
    return evaluator.compute()


def run_model(study: Study, run: ModelRun, data_root: Path, run_dir: Path, device: torch.device) -> Dict[str, Any]:
    """ Train and measure one model of the study into run_dir (skipped when finished, resumed when started). """
    if (run_dir / SUMMARY).exists():
        return json.loads((run_dir / SUMMARY).read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    recipe, data = run_recipe(study, run), DATA_SETS[study.data_set]
    random_seed(recipe.seed)
    model = create_run_model(study, run).to(device)
    _write_atomically(run_dir / 'config.yaml', yaml.safe_dump(dict(
        run=asdict(run), data_set=study.data_set, data=asdict(data), train_samples=study.train_samples,
        val_samples=study.val_samples, recipe=asdict(recipe), pretrained_cfg=model.pretrained_cfg), sort_keys=False))

    input_size = run_input_size(study.data_set, run)
    loader_train, loader_val = _loaders(study, recipe, data_root, input_size)
    cfg = Namespace(**asdict(recipe))
    optimizer = create_optimizer_v2(model, **optimizer_kwargs(cfg=cfg))
    scheduler, num_epochs = create_scheduler_v2(
        optimizer, **scheduler_kwargs(cfg), updates_per_epoch=len(loader_train))
    mixup = None
    if recipe.mixup > 0 or recipe.cutmix > 0:
        mixup = Mixup(mixup_alpha=recipe.mixup, cutmix_alpha=recipe.cutmix, label_smoothing=recipe.smoothing,
                      num_classes=data.num_classes)
    task = ClassificationTask(
        model, device=device, verbose=False,
        criterion_kwargs=dict(soft_targets=True) if mixup else dict(smoothing=recipe.smoothing))
    saver = CheckpointSaver(
        model, optimizer, task=task, checkpoint_dir=str(run_dir), recovery_dir=str(run_dir), max_history=1)

    start_epoch, last = 0, run_dir / LAST_CHECKPOINT
    if last.exists():
        start_epoch = resume_task_checkpoint(task, str(last), optimizer, log_info=False)
        saver.load_state_dict_from_checkpoint(str(last))
        if scheduler is not None:
            scheduler.step(start_epoch)
    rows = [row for row in read_metrics(run_dir) if row['epoch'] < start_epoch]  # drop an epoch not checkpointed
    _write_metrics(run_dir, rows)

    num_updates = start_epoch * len(loader_train)
    for epoch in range(start_epoch, num_epochs):
        random_seed(recipe.seed + epoch)
        lr = optimizer.param_groups[0]['lr']
        start = time.perf_counter()
        train_loss, train_top1, num_updates = _train_one_epoch(
            task, loader_train, optimizer, scheduler, mixup, recipe, device, num_updates,
            desc=f'{run.name} epoch {epoch + 1}/{num_epochs}')
        epoch_time = time.perf_counter() - start
        val = _evaluate(task, loader_val, device)
        if scheduler is not None:
            scheduler.step(epoch + 1, val['top1'])
        rows.append(dict(epoch=epoch, lr=lr, epoch_time_s=epoch_time, train_loss=train_loss, train_top1=train_top1,
                         val_loss=val['loss'], val_top1=val['top1'], val_top5=val['top5']))
        _write_metrics(run_dir, rows)
        saver.save_checkpoint(epoch, metric=val['top1'])
        print(f'{run.name} epoch {epoch + 1}/{num_epochs}: train loss {train_loss:.3f}, val top-1 '
              f'{val["top1"]:.2f}%, {epoch_time:.0f}s', flush=True)

    save_for_hf(
        model, str(run_dir / WEIGHTS), safe_serialization=True,
        model_args=run_model_args(study.data_set, run),
        data_config=data.data_config(input_size))
    summary = dict(
        run=run.name, model=run.model, kwargs=run.kwargs, img_size=run.img_size, data_set=study.data_set,
        epochs=len(rows),
        **model_costs(model, input_size, recipe.batch_size, device),
        train_time_s=sum(row['epoch_time_s'] for row in rows), top1=rows[-1]['val_top1'],
        top5=rows[-1]['val_top5'], best_top1=max(row['val_top1'] for row in rows))
    for checkpoint in run_dir.glob('*.pth.tar'):  # the weights are in weights/; training state is not needed
        checkpoint.unlink()
    _write_atomically(run_dir / SUMMARY, json.dumps(summary, indent=2))
    return summary
