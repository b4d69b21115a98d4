""" STL-10, Tiny ImageNet and ImageNet-100 laid out for timm's folder reader, from small archives the tests write in the
official formats, read back through timm's own dataset factory. """
import io
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat
from timm.data import create_dataset

from timm_attnzoo.cli import main
from timm_attnzoo.data import prepare_imagenet100, prepare_stl10, prepare_tiny_imagenet

STL10_CLASSES = ['airplane', 'bird', 'car', 'cat', 'deer', 'dog', 'horse', 'monkey', 'ship', 'truck']


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def stl10_archive(tmp_path):
    """ stl10_binary.tar.gz with 4 training and 3 test images: uint8, 3x96x96 stored channel by channel in
    column-major order, labels 1-10, as the data set's README describes. Returns the archive and the images
    (N, H, W, C) with their 0-based labels. """
    rng = np.random.default_rng(0)
    splits = {}
    path = tmp_path / 'stl10_binary.tar.gz'
    with tarfile.open(path, 'w:gz') as tar:
        _add(tar, 'stl10_binary/class_names.txt', '\n'.join(STL10_CLASSES).encode() + b'\n')
        for prefix, labels in (('train', [0, 9, 3, 3]), ('test', [1, 0, 7])):
            images = rng.integers(0, 256, (len(labels), 96, 96, 3), dtype=np.uint8)  # N, H, W, C
            _add(tar, f'stl10_binary/{prefix}_X.bin', images.transpose(0, 3, 2, 1).tobytes())  # N, C, W, H
            _add(tar, f'stl10_binary/{prefix}_y.bin', bytes(label + 1 for label in labels))
            splits[prefix] = images, labels
    return path, splits


def test_stl10_becomes_class_folders_with_the_official_labels_and_pixels(tmp_path, stl10_archive):
    archive, splits = stl10_archive
    folder = prepare_stl10(tmp_path / 'data', archive)
    for split, prefix in (('train', 'train'), ('validation', 'test')):  # timm's validation split finds val/
        dataset = create_dataset('', root=str(folder), split=split)
        assert sorted(dataset.reader.class_to_idx) == sorted({STL10_CLASSES[i] for i in splits[prefix][1]})
        images, labels = splits[prefix]
        loaded = {}
        for index in range(len(dataset)):
            image, target = dataset[index]
            name = dataset.reader.filename(index, basename=True)
            loaded[int(name.split('.')[0])] = (np.asarray(image), target)
        idx_to_class = {v: k for k, v in dataset.reader.class_to_idx.items()}
        for index, (image, label) in enumerate(zip(images, labels)):
            np.testing.assert_array_equal(loaded[index][0], image)  # orientation and channels as stored
            assert idx_to_class[loaded[index][1]] == STL10_CLASSES[label]


def test_stl10_through_the_cli_and_again_without_rebuilding(tmp_path, stl10_archive, capsys):
    archive, _ = stl10_archive
    main(['prepare-data', 'stl10', '--root', str(tmp_path / 'data'), '--source', str(archive)])
    assert '--data-dir' in capsys.readouterr().out
    marker = tmp_path / 'data' / 'stl10' / 'train' / 'airplane' / '0.png'
    mtime = marker.stat().st_mtime_ns
    main(['prepare-data', 'stl10', '--root', str(tmp_path / 'data'), '--source', str(archive)])
    assert marker.stat().st_mtime_ns == mtime
    with pytest.raises(SystemExit, match='needs --source'):
        main(['prepare-data', 'tiny_imagenet', '--root', str(tmp_path / 'data')])


def _jpeg(color):
    buffer = io.BytesIO()
    Image.new('RGB', (64, 64), color).save(buffer, format='JPEG')
    return buffer.getvalue()


@pytest.fixture
def tiny_imagenet_archive(tmp_path):
    """ tiny-imagenet-200.zip as published: train/<wnid>/images/*.JPEG with a boxes file, a flat val/images with
    val_annotations.txt (file, wnid, box), an unlabeled test/images, wnids.txt. Returns it and {file: (wnid, bytes)}. """
    wnids = ['n01443537', 'n01629819', 'n02058221']
    files = {}
    path = tmp_path / 'tiny-imagenet-200.zip'
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('tiny-imagenet-200/wnids.txt', '\n'.join(wnids) + '\n')
        for k, wnid in enumerate(wnids):
            zf.writestr(f'tiny-imagenet-200/train/{wnid}/{wnid}_boxes.txt', f'{wnid}_0.JPEG\t0\t0\t63\t63\n')
            for i in range(2):
                files[f'{wnid}_{i}.JPEG'] = wnid, _jpeg((40 * k, 10 * i, 0))
                zf.writestr(f'tiny-imagenet-200/train/{wnid}/images/{wnid}_{i}.JPEG', files[f'{wnid}_{i}.JPEG'][1])
        annotations = []
        for i, wnid in enumerate([wnids[2], wnids[0], wnids[2]]):
            files[f'val_{i}.JPEG'] = wnid, _jpeg((0, 0, 50 * i))
            zf.writestr(f'tiny-imagenet-200/val/images/val_{i}.JPEG', files[f'val_{i}.JPEG'][1])
            annotations.append(f'val_{i}.JPEG\t{wnid}\t0\t0\t63\t63')
        zf.writestr('tiny-imagenet-200/val/val_annotations.txt', '\n'.join(annotations) + '\n')
        zf.writestr('tiny-imagenet-200/test/images/test_0.JPEG', _jpeg((9, 9, 9)))
    return path, files


def test_tiny_imagenet_becomes_one_folder_per_wnid_with_the_jpegs_untouched(tmp_path, tiny_imagenet_archive):
    archive, files = tiny_imagenet_archive
    folder = prepare_tiny_imagenet(tmp_path / 'data', archive)
    train = create_dataset('', root=str(folder), split='train')
    val = create_dataset('', root=str(folder), split='validation')
    assert sorted(train.reader.class_to_idx) == ['n01443537', 'n01629819', 'n02058221']  # not 'images'
    assert len(train) == 6 and len(val) == 3
    for dataset in (train, val):
        idx_to_class = {v: k for k, v in dataset.reader.class_to_idx.items()}
        for index in range(len(dataset)):
            name = dataset.reader.filename(index, basename=True)
            wnid, data = files[name]
            assert idx_to_class[dataset[index][1]] == wnid
            assert (folder / ('train' if dataset is train else 'val') / wnid / name).read_bytes() == data
    assert not (folder / 'test').exists()


def test_a_missing_archive_names_the_path_and_leaves_nothing_behind(tmp_path):
    with pytest.raises(FileNotFoundError, match='stl10_binary.tar.gz'):
        prepare_stl10(tmp_path / 'data', tmp_path / 'stl10_binary.tar.gz')
    assert not (tmp_path / 'data' / 'stl10').exists()


# four classes whose ILSVRC2012_IDs are not in wnid order; ID 1001 is an inner node of the hierarchy
IMAGENET_SYNSETS = [(3, 'n01440764', 0), (1, 'n02119789', 0), (4, 'n01443537', 0), (2, 'n04592741', 0),
                    (1001, 'n00001740', 3)]
IMAGENET_VAL_IDS = [2, 3, 1, 4, 3, 2]  # the ground-truth ID of ILSVRC2012_val_00000001.JPEG, ...


def _tar_bytes(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as tar:
        for name, data in members.items():
            _add(tar, name, data)
    return buffer.getvalue()


@pytest.fixture
def imagenet_archives(tmp_path):
    """ The three ILSVRC2012 archives: a training tar of one tar per class, the flat validation tar, and the
    devkit with meta.mat (a MATLAB struct array of synsets) and the validation ground truth. """
    source = tmp_path / 'ilsvrc2012'
    source.mkdir()
    wnid_of = {i: wnid for i, wnid, _ in IMAGENET_SYNSETS}
    train = {}
    for i, (_, wnid, children) in enumerate(IMAGENET_SYNSETS[:4]):
        train[f'{wnid}.tar'] = _tar_bytes({f'{wnid}_{k}.JPEG': _jpeg((i * 40, k * 60, 9)) for k in range(2)})
    (source / 'ILSVRC2012_img_train.tar').write_bytes(_tar_bytes(train))
    val = {f'ILSVRC2012_val_{k + 1:08d}.JPEG': _jpeg((k * 30, 0, 0)) for k in range(len(IMAGENET_VAL_IDS))}
    (source / 'ILSVRC2012_img_val.tar').write_bytes(_tar_bytes(val))
    fields = ['ILSVRC2012_ID', 'WNID', 'words', 'gloss', 'num_children', 'children', 'wordnet_height', 'num_train_images']
    synsets = np.array([(i, wnid, wnid, '', children, np.zeros(children), 0, 2) for i, wnid, children in IMAGENET_SYNSETS],
                       dtype=[(f, 'O') for f in fields])
    meta = io.BytesIO()
    savemat(meta, {'synsets': synsets})
    with tarfile.open(source / 'ILSVRC2012_devkit_t12.tar.gz', 'w:gz') as tar:
        _add(tar, 'ILSVRC2012_devkit_t12/data/meta.mat', meta.getvalue())
        _add(tar, 'ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt',
             ''.join(f'{i}\n' for i in IMAGENET_VAL_IDS).encode())
    val_wnids = {name: wnid_of[i] for name, i in zip(val, IMAGENET_VAL_IDS)}
    return source, train, val, val_wnids


def test_imagenet100_keeps_the_listed_classes_and_sorts_val_by_the_devkit_labels(tmp_path, imagenet_archives, capsys):
    source, train, val, val_wnids = imagenet_archives
    classes = tmp_path / 'imagenet100.txt'
    classes.write_text('n02119789\nn01440764\nn04592741\n')  # 3 of the 4
    main(['prepare-data', 'imagenet100', '--root', str(tmp_path / 'data'), '--source', str(source),
          '--classes', str(classes)])
    folder = tmp_path / 'data' / 'imagenet100'
    assert f'--data-dir {folder}' in capsys.readouterr().out
    train_set = create_dataset('', root=str(folder), split='train')
    val_set = create_dataset('', root=str(folder), split='validation')
    assert sorted(train_set.reader.class_to_idx) == sorted(val_set.reader.class_to_idx) == [
        'n01440764', 'n02119789', 'n04592741']
    assert len(train_set) == 6
    expected_val = {name: wnid for name, wnid in val_wnids.items() if wnid != 'n01443537'}
    assert len(val_set) == len(expected_val) == 5
    idx_to_class = {v: k for k, v in val_set.reader.class_to_idx.items()}
    for index in range(len(val_set)):
        name = val_set.reader.filename(index, basename=True)
        assert idx_to_class[val_set[index][1]] == expected_val[name]
        assert (folder / 'val' / expected_val[name] / name).read_bytes() == val[name]


def test_imagenet100_refuses_a_class_the_archive_lacks_and_leaves_nothing_behind(tmp_path, imagenet_archives):
    source = imagenet_archives[0]
    classes = tmp_path / 'imagenet100.txt'
    classes.write_text('n02119789\nn09999999\n')
    with pytest.raises(ValueError, match='n09999999'):
        prepare_imagenet100(tmp_path / 'data', source, classes)
    assert not (tmp_path / 'data' / 'imagenet100').exists()
