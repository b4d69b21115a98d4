""" Offline data preparation: lay each data set out where timm's dataset factory reads it.

  * Fashion-MNIST: `create_dataset('torch/fashion_mnist', root=ROOT)` reads the uncompressed IDX files from
    ROOT/FashionMNIST/raw; Debian's `dataset-fashion-mnist` ships them gzipped.
  * STL-10, Tiny ImageNet and ImageNet-100 have no torch/ loader in timm: they become class folders, ROOT/<name>/train/<class>/
    and ROOT/<name>/val/<class>/, which timm's folder reader takes (`--data-dir ROOT/<name>`, no --dataset; its
    'validation' split finds val/). Each is built under a temporary name and renamed when complete, so an
    interrupted run leaves nothing a loader would mistake for the data set.
"""
import gzip
import io
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Callable, List, Union

import numpy as np
from PIL import Image

DEBIAN_FASHION_MNIST_DIR = Path('/usr/share/datasets/fashion-mnist')
FASHION_MNIST_FILES = (
    'train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')
STL10_SPLITS = {'train': 'train', 'val': 'test'}  # our folder: the archive's file prefix
STL10_IMAGE_SHAPE = (3, 96, 96)

PathLike = Union[str, Path]


def prepare_fashion_mnist(root: PathLike, source: PathLike = DEBIAN_FASHION_MNIST_DIR) -> Path:
    """ Decompress the four IDX files from `source` into root/FashionMNIST/raw; returns root. """
    root, source = Path(root), Path(source)
    raw = root / 'FashionMNIST' / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    for name in FASHION_MNIST_FILES:
        target = raw / name
        if target.exists():
            continue
        gz = source / f'{name}.gz'
        if not gz.exists():
            raise FileNotFoundError(
                f'{gz} not found: install Debian\'s package with `apt-get install dataset-fashion-mnist` '
                f'or pass the folder holding the .gz IDX files as source.')
        partial = target.with_suffix('.partial')
        with gzip.open(gz, 'rb') as src, open(partial, 'wb') as dst:
            shutil.copyfileobj(src, dst)
        partial.replace(target)  # never leave a half-written file under the name the loader reads
    return root


def _build_once(target: Path, archive: Path, build: Callable[[Path], None]) -> Path:
    """ Run build(partial folder) and rename it to target, unless target is already there. """
    if target.exists():
        return target
    if not archive.is_file():
        raise FileNotFoundError(f'{archive} not found: pass the official archive (see docs/data.md).')
    partial = target.with_name(target.name + '.partial')
    shutil.rmtree(partial, ignore_errors=True)
    build(partial)
    partial.rename(target)
    return target


def prepare_stl10(root: PathLike, archive: PathLike) -> Path:
    """ STL-10's `stl10_binary.tar.gz` -> root/stl10/{train,val}/<class>/<index>.png; returns root/stl10.

    The binary files hold uint8 images of 3x96x96, each channel in column-major order (the data set's README),
    and labels 1-10 in the order of class_names.txt, which is alphabetical: the folder reader's sorted classes
    get the official label numbers. The unlabeled split is left out; val/ is the official test split.
    """
    def build(out: Path) -> None:
        with tarfile.open(archive) as tar:
            def read(name: str) -> bytes:
                return tar.extractfile(f'stl10_binary/{name}').read()

            class_names = read('class_names.txt').decode().split()
            if class_names != sorted(class_names):
                raise ValueError(f'class_names.txt is not in alphabetical order: {class_names}')
            for split, prefix in STL10_SPLITS.items():
                images = np.frombuffer(read(f'{prefix}_X.bin'), np.uint8).reshape(-1, *STL10_IMAGE_SHAPE)
                images = images.transpose(0, 3, 2, 1)  # (N, C, W, H) as stored -> (N, H, W, C)
                labels = np.frombuffer(read(f'{prefix}_y.bin'), np.uint8).astype(np.int64) - 1
                for index, (image, label) in enumerate(zip(images, labels)):
                    folder = out / split / class_names[label]
                    folder.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(image).save(folder / f'{index}.png')

    return _build_once(Path(root) / 'stl10', Path(archive), build)


def prepare_tiny_imagenet(root: PathLike, archive: PathLike) -> Path:
    """ Tiny ImageNet's `tiny-imagenet-200.zip` -> root/tiny_imagenet/{train,val}/<wnid>/<file>.JPEG; returns
    root/tiny_imagenet.

    The archive nests each training class one level deeper (train/<wnid>/images/), which the folder reader
    would label 'images', and keeps val/ flat with the classes in val/val_annotations.txt; both are moved into
    one folder per wnid. The JPEG bytes are copied, not re-encoded. The unlabeled test split is left out.
    """
    def build(out: Path) -> None:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            top = names[0].split('/')[0]  # tiny-imagenet-200
            annotations = zf.read(f'{top}/val/val_annotations.txt').decode().splitlines()
            val_classes = dict(line.split('\t')[:2] for line in annotations if line.strip())
            for name in names:
                parts = name.split('/')
                if not name.endswith('.JPEG'):
                    continue
                if parts[1] == 'train':  # top/train/<wnid>/images/<file>
                    target = out / 'train' / parts[2] / parts[-1]
                elif parts[1] == 'val':  # top/val/images/<file>
                    target = out / 'val' / val_classes[parts[-1]] / parts[-1]
                else:
                    continue
                _write(target, zf.read(name))

    return _build_once(Path(root) / 'tiny_imagenet', Path(archive), build)


IMAGENET_ARCHIVES = ('ILSVRC2012_img_train.tar', 'ILSVRC2012_img_val.tar', 'ILSVRC2012_devkit_t12.tar.gz')


def _imagenet_val_wnids(devkit: Path) -> List[str]:
    """ The wnid of every validation image, in file order, from the ILSVRC2012 devkit.

    data/ILSVRC2012_validation_ground_truth.txt holds each image's ILSVRC2012_ID (1-1000, not in wnid order);
    data/meta.mat maps the IDs to wnids (its synsets with no children are the 1000 classes).
    """
    from scipy.io import loadmat  # the devkit's metadata is a MATLAB file (the `imagenet` extra)
    with tarfile.open(devkit) as tar:
        def read(name: str) -> bytes:
            return tar.extractfile(f'ILSVRC2012_devkit_t12/data/{name}').read()

        synsets = loadmat(io.BytesIO(read('meta.mat')), squeeze_me=True)['synsets']
        id_to_wnid = {int(s['ILSVRC2012_ID']): str(s['WNID']) for s in synsets if int(s['num_children']) == 0}
        return [id_to_wnid[int(line)] for line in read('ILSVRC2012_validation_ground_truth.txt').decode().split()]


def prepare_imagenet100(root: PathLike, source: PathLike, classes: PathLike) -> Path:
    """ ImageNet-100 from the official ILSVRC2012 archives in `source` -> root/imagenet100/{train,val}/<wnid>/;
    returns root/imagenet100.

    `classes` lists the 100 wnids, one per line (e.g. the list of 'Contrastive Multiview Coding', Tian et al.
    2020). The training archive holds one tar per class, of which only the listed are unpacked; the validation
    archive is flat, its images are sorted by the devkit's labels. The JPEG bytes are copied, not re-encoded.
    """
    source = Path(source)
    wnids = [line.strip() for line in Path(classes).read_text().splitlines() if line.strip()]
    if len(set(wnids)) != len(wnids) or not all(w.startswith('n') and w[1:].isdigit() for w in wnids):
        raise ValueError(f'{classes} must list distinct wnids (n01440764 ...), one per line.')
    for name in IMAGENET_ARCHIVES[1:]:
        if not (source / name).is_file():
            raise FileNotFoundError(f'{source / name} not found: pass the folder of the ILSVRC2012 archives (docs/data.md).')

    def build(out: Path) -> None:
        wanted = set(wnids)
        with tarfile.open(source / IMAGENET_ARCHIVES[0]) as train:
            for member in train:  # streamed: one tar per class, <wnid>.tar
                wnid = Path(member.name).stem
                if wnid in wanted:
                    with tarfile.open(fileobj=train.extractfile(member)) as class_tar:
                        for image in class_tar:
                            if image.isfile():
                                _write(out / 'train' / wnid / Path(image.name).name, class_tar.extractfile(image).read())
        missing = wanted - {p.name for p in (out / 'train').iterdir()} if (out / 'train').exists() else wanted
        if missing:
            raise ValueError(f'{len(missing)} listed classes are not in {IMAGENET_ARCHIVES[0]}: {sorted(missing)[:5]}')
        val_wnids = _imagenet_val_wnids(source / IMAGENET_ARCHIVES[2])
        with tarfile.open(source / IMAGENET_ARCHIVES[1]) as val:
            for member in val:  # ILSVRC2012_val_<8-digit index from 1>.JPEG
                if member.isfile():
                    wnid = val_wnids[int(Path(member.name).stem.split('_')[-1]) - 1]
                    if wnid in wanted:
                        _write(out / 'val' / wnid / Path(member.name).name, val.extractfile(member).read())

    return _build_once(Path(root) / 'imagenet100', source / IMAGENET_ARCHIVES[0], build)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
