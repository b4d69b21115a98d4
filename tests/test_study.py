""" `attnzoo study` end to end on real Fashion-MNIST (small subsets): the runs, their measurements, the report,
weights that load back with pretrained=True, skipping finished runs and resuming an interrupted one. """
import csv
import json

import pytest
import timm
import torch
import yaml
from safetensors.torch import load_file
from timm.models import model_entrypoint
from timm.utils import random_seed

from timm_attnzoo.cli import main
from timm_attnzoo.constants import FASHION_MNIST_LABELS
from timm_attnzoo.flops import count_flops
from timm_attnzoo.layers import PerformerAttention
from timm_attnzoo.measure import peak_training_memory_mib
from timm_attnzoo.registry import list_models
from timm_attnzoo.study import load_study, run_study, study_from_dict
from timm_attnzoo.study import run as study_run
from timm_attnzoo.study.report import (
    ARGUMENT_PLOT, RESOLUTION_PLOT, SCATTER_PLOTS, argument_series, pareto_front, resolution_series,
    rows_without_argument, write_report)
from timm_attnzoo.study.run import METRICS_FIELDS, create_run_model
from timm_attnzoo.study.spec import run_recipe
from timm_attnzoo.train_configs import FASHION_MNIST_MODEL_KWARGS, FASHION_MNIST_MODEL_RECIPES, FASHION_MNIST_RECIPE

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
SMALL_STUDY = dict(
    name='small', data_set='fashion_mnist', train_samples=512, val_samples=256,
    recipe=dict(epochs=2, batch_size=64, lr=2e-3, warmup_epochs=0, workers=0, scale=[0.75, 1.0]),
    models=['vit_cifar', dict(name='swin_small', model='swin_cifar', kwargs=dict(embed_dim=32, depths=[1, 1, 2, 1]))])


@pytest.fixture(scope='module')
def small_study(tmp_path_factory, fashion_mnist_root):
    """ The small study run once through the command line, as a user runs it. """
    folder = tmp_path_factory.mktemp('study')
    (folder / 'small.yaml').write_text(yaml.safe_dump(SMALL_STUDY))
    main(['study', str(folder / 'small.yaml'), '--data-dir', str(fashion_mnist_root), '--output', str(folder / 'out')])
    return folder / 'out' / 'small'


def _summary(run_dir):
    return json.loads((run_dir / 'summary.json').read_text())


def test_each_run_has_a_row_per_epoch_and_its_measured_costs(small_study):
    study = study_from_dict(SMALL_STUDY)
    for run in study.models:
        run_dir = small_study / run.name
        with (run_dir / 'metrics.csv').open() as f:
            rows = list(csv.DictReader(f))
        assert [int(float(row['epoch'])) for row in rows] == [0, 1] and list(rows[0]) == list(METRICS_FIELDS)
        assert all(float(row['epoch_time_s']) > 0 and 0 <= float(row['val_top1']) <= 100 for row in rows)
        summary = _summary(run_dir)
        model = create_run_model(study, run)
        assert summary['params'] == sum(p.numel() for p in model.parameters())
        assert summary['flops'] == count_flops(model, (1, 28, 28))
        assert summary['latency_ms'] > 0 and summary['peak_train_memory_mib'] > 0
        assert summary['top1'] == float(rows[-1]['val_top1'])
        assert yaml.safe_load((run_dir / 'config.yaml').read_text())['run']['model'] == run.model
        assert not list(run_dir.glob('*.pth.tar')), 'training checkpoints are removed once the weights are saved'


def test_weights_load_back_with_pretrained_true_and_reproduce_the_validation_accuracy(small_study, fashion_mnist_root):
    study = study_from_dict(SMALL_STUDY)
    for run in study.models:
        input_size = study_run.run_input_size(study.data_set, run)
        _, loader_val = study_run._loaders(study, study.recipe, fashion_mnist_root, input_size)
        model = timm.create_model(f'local-dir:{small_study / run.name / "weights"}', pretrained=True).eval()
        assert model.pretrained_cfg['input_size'] == (1, 28, 28)
        with torch.no_grad():
            correct = sum((model(x).argmax(-1) == y).sum().item() for x, y in loader_val)
        assert 100 * correct / len(loader_val.dataset) == pytest.approx(_summary(small_study / run.name)['top1'])


def _check_push(run_dir, checkpoint, folder):
    """ `attnzoo push --local-dir` of a study checkpoint: the run's weights, data and last recorded top-1. """
    main(['push', '--checkpoint', str(checkpoint), '--repo-id', 'someone/vit_cifar-small', '--local-dir', str(folder)])
    config = json.loads((folder / 'config.json').read_text())
    assert config['architecture'] == 'vit_cifar' and config['label_names'] == list(FASHION_MNIST_LABELS)
    assert config['pretrained_cfg']['input_size'] == [1, 28, 28]
    pushed = timm.create_model(f'local-dir:{folder}', pretrained=True)
    expected = (timm.create_model(f'local-dir:{checkpoint}', pretrained=True) if checkpoint.is_dir()
                else torch.load(checkpoint, weights_only=False)['state_dict'])
    expected = expected.state_dict() if isinstance(expected, torch.nn.Module) else expected
    assert all(torch.equal(pushed.state_dict()[name], tensor) for name, tensor in expected.items())
    with (run_dir / 'metrics.csv').open() as f:
        top1 = float(list(csv.DictReader(f))[-1]['val_top1'])
    assert f'{top1:.2f}' in (folder / 'README.md').read_text()


def test_a_finished_run_pushes_with_its_results(small_study, tmp_path):
    _check_push(small_study / 'vit_cifar', small_study / 'vit_cifar' / 'weights', tmp_path / 'pushed')


def test_report_has_the_table_and_the_plots(small_study):
    table = (small_study / 'results.md').read_text()
    assert 'vit_cifar' in table and 'swin_small' in table and 'MFLOPs' in table
    with (small_study / 'results.csv').open() as f:
        rows = list(csv.DictReader(f))
    assert [row['run'] for row in rows] == ['vit_cifar', 'swin_small']
    assert [(row['family'], row['attention']) for row in rows] == [
        ('efficient_attention_vit', 'SoftmaxAttention'), ('swin_transformer', 'timm.WindowAttention')]
    for row in rows:
        assert float(row['epoch_time_s']) == pytest.approx(float(row['train_time_s']) / int(row['epochs']))
    summaries = [_summary(small_study / row['run']) for row in rows]
    for _, key, label, _ in SCATTER_PLOTS:
        front = pareto_front([s[key] for s in summaries], [s['top1'] for s in summaries])
        assert f"Pareto front of top-1 against {label}: {', '.join(rows[i]['run'] for i in front)}\n" in table
    for name in [plot[0] for plot in SCATTER_PLOTS] + ['training_curves.png']:
        assert (small_study / name).read_bytes()[:8] == PNG_SIGNATURE, name
    assert not (small_study / RESOLUTION_PLOT).exists(), 'no model was trained at two input sizes'


def test_the_pareto_front_holds_the_points_nothing_beats():
    costs = [4., 1., 2., 3., 2., 5.]
    top1 = [90., 80., 85., 85., 84., 91.]
    # 1 (cheapest), 2 (better than 1), then 0 (better than 2) and 5; 3 costs more than 2 for the same top-1, 4 less
    # top-1 for the same cost
    assert pareto_front(costs, top1) == [1, 2, 0, 5]
    assert pareto_front([1., 1.], [80., 80.]) == [0]  # of equal points one stands for both


def test_the_resolution_series_are_the_models_run_at_several_input_sizes_in_order_of_size():
    rows = [dict(run=name, model=model, kwargs=kwargs, image_side=side) for name, model, kwargs, side in [
        ('vit_56', 'vit_cifar', {}, 56), ('vit_28', 'vit_cifar', {}, 28), ('deep_28', 'vit_cifar', dict(depth=6), 28),
        ('swin_28', 'swin_cifar', {}, 28), ('deep_112', 'vit_cifar', dict(depth=6), 112)]]
    series = resolution_series(rows)
    assert {label: [(side, row['run']) for side, row in points] for label, points in series.items()} == {
        'vit_cifar': [(28, 'vit_28'), (56, 'vit_56')], "vit_cifar {'depth': 6}": [(28, 'deep_28'), (112, 'deep_112')]}


def _performer_layout(kernel, num_features):
    return dict(layers=[kernel, 'softmax'], attn_kwargs={kernel: dict(num_features=num_features)})


def test_the_argument_series_are_a_models_runs_at_several_values_of_one_numeric_argument_all_else_equal():
    rows = [dict(run=name, model=model, kwargs=kwargs, image_side=side) for name, model, kwargs, side in [
        ('regular', 'vit_performer_reg_cifar', dict(layers=['softmax', 'softmax']), 28),
        ('mixed_softmax_m64', 'vit_performer_reg_cifar', _performer_layout('performer', 64), 28),
        ('mixed_softmax_m16', 'vit_performer_reg_cifar', _performer_layout('performer', 16), 28),
        ('mixed_relu_m16', 'vit_performer_reg_cifar', _performer_layout('performer_relu', 16), 28),
        ('mixed_relu_m64', 'vit_performer_reg_cifar', _performer_layout('performer_relu', 64), 28),
        ('mixed_softmax_m256_56px', 'vit_performer_reg_cifar', _performer_layout('performer', 256), 56),
        ('all_performer_m16', 'vit_performer_reg_cifar', dict(
            layers=['performer', 'performer'], attn_kwargs=dict(performer=dict(num_features=16))), 28),
        ('vit_depth2', 'vit_cifar', dict(depth=2), 28), ('vit_depth4', 'vit_cifar', dict(depth=4), 28),
        ('vit_depth4_heads1', 'vit_cifar', dict(depth=4, num_heads=1), 28),
        ('vit_d2', 'vit_linformer_cifar', dict(depth=2), 28), ('vit_d4', 'vit_linformer_cifar', dict(depth=4), 28)]]
    series = argument_series(rows)
    # the 56 px run, the one all-Performer layout and the one-head vit have no partner with another value
    assert {argument: {label: [(value, row['run']) for value, row in points] for label, points in lines.items()}
            for argument, lines in series.items()} == {
        'num_features': {'mixed_softmax': [(16, 'mixed_softmax_m16'), (64, 'mixed_softmax_m64')],
                         'mixed_relu': [(16, 'mixed_relu_m16'), (64, 'mixed_relu_m64')]},
        'depth': {'vit': [(2, 'vit_depth2'), (4, 'vit_depth4')],
                  'vit_d2 / vit_d4': [(2, 'vit_d2'), (4, 'vit_d4')]}}  # its shared word is the line above's
    assert [row['run'] for row in rows_without_argument(rows, 'num_features', series['num_features'])] == ['regular']
    assert rows_without_argument(rows, 'depth', series['depth']) == []


def test_the_report_plots_the_runs_of_a_model_at_several_values_of_an_argument_against_it(tmp_path):
    runs = [('vit', {}), ('vit_depth1', dict(depth=1)), ('vit_depth2', dict(depth=2))]
    summaries = [dict(run=name, model='vit_cifar', kwargs=kwargs, data_set='fashion_mnist', params=1000 * (i + 1),
                      flops=1e6 * (i + 1), latency_ms=1. + i, peak_train_memory_mib=100., train_time_s=10. + i,
                      epochs=1, top1=80. + i, top5=99., best_top1=80. + i) for i, (name, kwargs) in enumerate(runs)]
    write_report(tmp_path, summaries, {name: [dict(epoch=0, train_loss=1., val_top1=80.)] for name, _ in runs})
    assert [path.name for path in tmp_path.glob('*_scaling.png')] == [ARGUMENT_PLOT.format(argument='depth')]
    assert (tmp_path / 'depth_scaling.png').read_bytes()[:8] == PNG_SIGNATURE


def _count_epochs(monkeypatch, interrupt_at=None):
    """ Count _train_one_epoch calls; raise KeyboardInterrupt (Ctrl-C) on call number interrupt_at. """
    calls = []
    train_one_epoch = study_run._train_one_epoch

    def counted(*args, **kwargs):
        calls.append(kwargs['desc'])
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return train_one_epoch(*args, **kwargs)
    monkeypatch.setattr(study_run, '_train_one_epoch', counted)
    return calls


def test_an_interrupted_run_resumes_from_its_last_epoch_and_finished_runs_are_skipped(
        tmp_path, fashion_mnist_root, monkeypatch):
    config = dict(SMALL_STUDY, models=['vit_cifar'], recipe=dict(SMALL_STUDY['recipe'], epochs=3, mixup=0.8))
    study = study_from_dict(config)
    calls = _count_epochs(monkeypatch, interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        run_study(study, fashion_mnist_root, tmp_path)
    run_dir = tmp_path / 'small' / 'vit_cifar'
    first_epoch = (run_dir / 'metrics.csv').read_text()
    assert (run_dir / 'last.pth.tar').exists() and not (run_dir / 'summary.json').exists()
    _check_push(run_dir, run_dir / 'last.pth.tar', tmp_path / 'pushed_mid_run')

    calls = _count_epochs(monkeypatch)
    run_study(study, fashion_mnist_root, tmp_path)
    assert calls == ['vit_cifar epoch 2/3', 'vit_cifar epoch 3/3']  # epoch 1 was not trained again
    assert (run_dir / 'metrics.csv').read_text().startswith(first_epoch)
    assert _summary(run_dir)['epochs'] == 3

    calls = _count_epochs(monkeypatch)
    run_study(study, fashion_mnist_root, tmp_path)
    assert calls == []


def _stop_mid_epoch(monkeypatch, epoch_call, after_batches):
    """ Ctrl-C after `after_batches` batches of the `epoch_call`-th call of _train_one_epoch. """
    calls = []
    train_one_epoch = study_run._train_one_epoch

    def batches_then_stop(loader):
        for i, batch in enumerate(loader):
            if i == after_batches:
                raise KeyboardInterrupt
            yield batch

    def stopping(task, loader, *args, **kwargs):
        calls.append(kwargs['desc'])
        return train_one_epoch(task, batches_then_stop(loader) if len(calls) == epoch_call else loader, *args, **kwargs)
    monkeypatch.setattr(study_run, '_train_one_epoch', stopping)


def _weights_and_metrics(output, run='vit_cifar'):
    run_dir = output / 'small' / run
    with (run_dir / 'metrics.csv').open() as f:
        metrics = [{k: v for k, v in row.items() if k != 'epoch_time_s'} for row in csv.DictReader(f)]
    return load_file(run_dir / 'weights' / 'model.safetensors'), metrics


def test_runs_are_deterministic_and_a_run_stopped_mid_epoch_resumes_to_the_uninterrupted_result(
        tmp_path, fashion_mnist_root, monkeypatch):
    # augmentation, mixup, dropout and drop path draw random numbers in every step: all of them must replay
    vit = dict(name='vit_cifar', model='vit_cifar', kwargs=dict(drop_rate=0.1, drop_path_rate=0.1))
    study = study_from_dict(dict(SMALL_STUDY, models=[vit], recipe=dict(SMALL_STUDY['recipe'], epochs=3, mixup=0.8)))
    run_study(study, fashion_mnist_root, tmp_path / 'first')
    run_study(study, fashion_mnist_root, tmp_path / 'second')
    _stop_mid_epoch(monkeypatch, epoch_call=2, after_batches=3)
    with pytest.raises(KeyboardInterrupt):
        run_study(study, fashion_mnist_root, tmp_path / 'resumed')
    monkeypatch.undo()
    run_study(study, fashion_mnist_root, tmp_path / 'resumed')

    first_weights, first_metrics = _weights_and_metrics(tmp_path / 'first')
    for other in ('second', 'resumed'):
        weights, metrics = _weights_and_metrics(tmp_path / other)
        assert metrics == first_metrics, other
        assert weights.keys() == first_weights.keys()
        assert all(torch.equal(weights[name], first_weights[name]) for name in weights), other


def test_a_crash_while_writing_leaves_the_last_checkpoint_and_metrics_whole(tmp_path, fashion_mnist_root, monkeypatch):
    study = study_from_dict(dict(SMALL_STUDY, models=['vit_cifar'], recipe=dict(SMALL_STUDY['recipe'], epochs=2)))
    run_dir = tmp_path / 'small' / 'vit_cifar'
    torch_save = torch.save

    def crash_halfway(obj, path, *args, **kwargs):
        """ Write the epoch 2 checkpoint's first bytes, then die as a killed process would. """
        torch_save(obj, path, *args, **kwargs)
        if obj['epoch'] == 1:
            with open(path, 'r+b') as f:
                f.truncate(f.seek(0, 2) // 2)
            raise KeyboardInterrupt
    monkeypatch.setattr(torch, 'save', crash_halfway)
    with pytest.raises(KeyboardInterrupt):
        run_study(study, fashion_mnist_root, tmp_path)
    monkeypatch.undo()
    assert torch.load(run_dir / 'last.pth.tar', weights_only=False)['epoch'] == 0  # the whole epoch 1 checkpoint
    with (run_dir / 'metrics.csv').open() as f:
        assert [row['epoch'] for row in csv.DictReader(f)] in (['0'], ['0', '1'])

    run_study(study, fashion_mnist_root, tmp_path)
    assert _summary(run_dir)['epochs'] == 2


def test_peak_training_memory_grows_with_the_batch():
    model = timm.create_model('vit_cifar', in_chans=1, img_size=28)
    small, large = (peak_training_memory_mib(model, (1, 28, 28), batch, torch.device('cpu')) for batch in (8, 256))
    assert large > 4 * small > 0


def test_a_run_with_an_img_size_trains_measures_and_saves_on_the_upsampled_images(tmp_path, fashion_mnist_root):
    study = study_from_dict(dict(
        SMALL_STUDY, name='upsampled', train_samples=128, val_samples=64, recipe=dict(SMALL_STUDY['recipe'], epochs=1),
        models=[dict(name='vit_56', model='vit_cifar', img_size=56), 'vit_cifar']))
    out = run_study(study, fashion_mnist_root, tmp_path)
    model = create_run_model(study, study.models[0])
    assert model.patch_embed.grid_size == (14, 14)  # 56 / 4: built for the upsampled images
    loader_train, _ = study_run._loaders(study, study.recipe, fashion_mnist_root, (1, 56, 56))
    assert next(iter(loader_train))[0].shape[-3:] == (1, 56, 56)
    assert _summary(out / 'vit_56')['flops'] == count_flops(model, (1, 56, 56))
    with (out / 'results.csv').open() as f:
        assert [row['input_size'] for row in csv.DictReader(f)] == ['1x56x56', '1x28x28']
    assert (out / RESOLUTION_PLOT).read_bytes()[:8] == PNG_SIGNATURE, 'vit_cifar at 28 and 56 px'
    loaded = timm.create_model(f'local-dir:{out / "vit_56" / "weights"}', pretrained=True)
    assert loaded.pretrained_cfg['input_size'] == (1, 56, 56) and loaded.patch_embed.grid_size == (14, 14)
    main(['push', '--checkpoint', str(out / 'vit_56' / 'weights'), '--repo-id', 'someone/vit_56',
          '--local-dir', str(tmp_path / 'pushed')])
    assert json.loads((tmp_path / 'pushed' / 'config.json').read_text())['pretrained_cfg']['input_size'] == [1, 56, 56]


def test_default_preset_has_one_small_model_of_every_family():
    study = load_study('default')
    families = {model_entrypoint(name).__module__ for name in list_models()}
    assert {model_entrypoint(run.model).__module__ for run in study.models} == families
    assert all(sum(p.numel() for p in create_run_model(study, run).parameters()) < 3_000_000 for run in study.models)


def _as_configured(recipe, configured):
    """ The recipe's values of the keys in `configured`, its tuples lists as train_configs.py writes them. """
    return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(recipe).items() if k in configured}


def test_full_preset_trains_every_model_with_the_fashion_mnist_recipe_of_train_configs():
    study = load_study('full')
    assert [run.model for run in study.models] == list_models() and study.train_samples is None
    assert _as_configured(study.recipe, FASHION_MNIST_RECIPE) == FASHION_MNIST_RECIPE
    assert study.model_kwargs == FASHION_MNIST_MODEL_KWARGS
    assert {run.model: run.kwargs for run in study.models if run.kwargs} == FASHION_MNIST_MODEL_KWARGS
    for run in study.models:
        expected = {**FASHION_MNIST_RECIPE, **FASHION_MNIST_MODEL_RECIPES.get(run.model, {})}
        assert _as_configured(run_recipe(study, run), expected) == expected, run.name


def test_model_kwargs_go_to_every_run_of_the_model_under_the_runs_own_kwargs():
    performer = {'attn_kwargs': {'performer': {'num_features': 64, 'feature_redraw_interval': 0}}}
    study = study_from_dict(dict(SMALL_STUDY, model_kwargs={'vit_performer_cifar': performer}, models=[
        'vit_cifar', 'vit_performer_cifar', dict(name='narrow', model='vit_performer_cifar', kwargs={'depth': 2}),
        dict(name='m16', model='vit_performer_cifar', kwargs={'attn_kwargs': {'performer': {'num_features': 16}}})]))
    assert [run.kwargs for run in study.models] == [
        {}, performer, dict(performer, depth=2), {'attn_kwargs': {'performer': {'num_features': 16}}}]
    assert study_from_dict(study.to_dict()) == study
    assert study_from_dict(study.to_dict(), models=['vit_performer_cifar']).models[0].kwargs == performer


def test_model_recipes_change_their_keys_for_every_run_of_the_model_and_nothing_else():
    study = study_from_dict(dict(SMALL_STUDY, model_recipes={'swin_cifar': {'lr': 1e-4, 'clip_grad': 5.0}}))
    vit, swin = (run_recipe(study, run) for run in study.models)
    assert vit == study.recipe and (vit.lr, vit.clip_grad) == (2e-3, None)
    assert (swin.lr, swin.clip_grad, swin.batch_size, swin.epochs) == (1e-4, 5.0, 64, 2)
    assert study_from_dict(study.to_dict()) == study


def test_a_run_clips_its_gradients_as_its_recipe_says(tmp_path, fashion_mnist_root):
    """ Gradients clipped to the value 0 leave the weights where they started (no weight decay, no momentum). """
    recipe = dict(SMALL_STUDY['recipe'], epochs=1, opt='momentum', momentum=0.0, weight_decay=0.0)
    frozen = study_from_dict(dict(SMALL_STUDY, train_samples=128, val_samples=64, models=['vit_cifar'], recipe=recipe,
                                  model_recipes={'vit_cifar': {'clip_grad': 0.0, 'clip_mode': 'value'}}))
    free = study_from_dict(dict(SMALL_STUDY, train_samples=128, val_samples=64, models=['vit_cifar'], recipe=recipe))
    random_seed(frozen.recipe.seed)  # as the run seeds before it builds its model
    start = create_run_model(frozen, frozen.models[0]).state_dict()
    for name, study in (('frozen', frozen), ('free', free)):
        run_study(study, fashion_mnist_root, tmp_path / name)
    frozen_weights, _ = _weights_and_metrics(tmp_path / 'frozen')
    free_weights, _ = _weights_and_metrics(tmp_path / 'free')
    assert all(torch.equal(frozen_weights[name], start[name]) for name in frozen_weights)
    assert not all(torch.equal(free_weights[name], start[name]) for name in free_weights)


@pytest.mark.parametrize('preset', ['mixformer_lambda_ablation', 'performer_patterns', 'attention_resolution'])
def test_the_seeds_comparisons_build_every_run_at_its_input_size(preset):
    study = load_study(preset)
    assert study.data_set == 'fashion_mnist' and study.train_samples and study.val_samples
    for run in study.models:
        model = create_run_model(study, run)
        input_size = study_run.run_input_size(study.data_set, run)
        assert model(torch.randn(2, *input_size)).shape == (2, 10), run.name


PATTERN_LAYOUTS = {  # run name's pattern: the blocks holding a Performer, of 6
    'regular': [], 'performer': [0, 1, 2, 3, 4, 5], 'performer_then_regular': [0, 1, 2],
    'regular_then_performer': [3, 4, 5], 'intertwined': [0, 2, 4]}


def test_the_performer_patterns_are_the_layouts_kernels_and_features_their_names_say():
    study = load_study('performer_patterns')
    seen = set()
    for run in study.models:
        pattern, kernel, m = (run.name, None, None) if run.name == 'regular' else run.name.rsplit('_', 2)
        model = create_run_model(study, run)
        performers = [i for i, block in enumerate(model.blocks) if isinstance(block.attn, PerformerAttention)]
        assert len(model.blocks) == 6 and performers == PATTERN_LAYOUTS[pattern], run.name
        for i in performers:
            attn = model.blocks[i].attn
            assert (attn.kernel, f'm{attn.projection_matrix.shape[0]}') == (kernel, m), run.name
        seen.add((pattern, kernel, m))
    assert len(seen) == 1 + 4 * 2 * 3


@pytest.mark.parametrize('change, message', [
    (dict(models=['no_such_model']), 'Unknown model'),
    (dict(data_set='imagenet'), 'data_set must be one of'),
    (dict(recipe=dict(learning_rate=1e-3)), 'Unknown recipe keys'),
    (dict(models=['vit_cifar', 'vit_cifar']), 'unique'),
    (dict(epochs=3), 'Unknown study keys'),
    (dict(model_kwargs={'no_such_model': {}}), 'model_kwargs names unknown models'),
    (dict(model_recipes={'no_such_model': {}}), 'model_recipes names unknown models'),
    (dict(model_recipes={'vit_cifar': {'learning_rate': 1e-3}}), 'Unknown recipe keys .* in model_recipes.vit_cifar'),
])
def test_a_wrong_study_is_refused_with_a_message(change, message):
    with pytest.raises(ValueError, match=message):
        study_from_dict(dict(SMALL_STUDY, **change))
