""" STL-10 and Tiny ImageNet laid out for timm's folder reader, from small archives the tests write in the
official formats, read back through timm's own dataset factory. """
import io
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image
from timm.data import create_dataset

from timm_attnzoo.cli import main
from timm_attnzoo.data import prepare_stl10, prepare_tiny_imagenet

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
