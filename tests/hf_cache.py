""" A Hugging Face cache laid out by a test, as huggingface_hub leaves one after a download, for loading offline. """
from pathlib import Path

SNAPSHOT = 'f' * 40  # a commit hash in the cache layout


def lay_out_hf_cache(hf_home: Path, repo_id: str, folder: Path) -> None:
    """ The files of `folder` as huggingface_hub caches a download of `repo_id`: blobs, a snapshot of links to them,
    and refs/main naming the snapshot. """
    repo = hf_home / 'hub' / f'models--{repo_id.replace("/", "--")}'
    (repo / 'blobs').mkdir(parents=True)
    (repo / 'snapshots' / SNAPSHOT).mkdir(parents=True)
    (repo / 'refs').mkdir()
    (repo / 'refs' / 'main').write_text(SNAPSHOT)
    for i, path in enumerate(sorted(folder.iterdir())):
        blob = repo / 'blobs' / f'{i:040d}'
        blob.write_bytes(path.read_bytes())
        (repo / 'snapshots' / SNAPSHOT / path.name).symlink_to(Path('..') / '..' / 'blobs' / blob.name)
