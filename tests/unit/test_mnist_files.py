"""data.mnist_files: MNIST from the repository's copy, a folder or mirrors, never a wrong file.

The mirrors here are HTTP servers on 127.0.0.1 serving the real files (or corrupted ones).
"""
import contextlib
import functools
import http.server
import shutil
import pathlib
import threading

import pytest

from data import mnist_files
from support import MNIST_DIR

pytestmark = pytest.mark.unit


@contextlib.contextmanager
def mirror(folder):
    """An HTTP server on 127.0.0.1 serving folder; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d/" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_the_repository_carries_the_canonical_mnist():
    assert mnist_files.verify(mnist_files.REPO_COPY) == mnist_files.REPO_COPY
    # The table in data/mnist/README.md names the same sums as the module checks.
    readme = (mnist_files.REPO_COPY / "README.md").read_text()
    for name, md5 in mnist_files.FILES.items():
        assert "| %s | %d | %s |" % (name, (mnist_files.REPO_COPY / name).stat().st_size, md5) in readme


def test_tests_read_the_repository_copy_unless_mnist_dir_says_otherwise():
    expected = mnist_files.default_dir()
    assert MNIST_DIR == expected
    assert mnist_files.default_dir({}) == mnist_files.REPO_COPY
    assert mnist_files.default_dir({"MNIST_DIR": "/elsewhere"}) == pathlib.Path("/elsewhere")


def test_locate_prefers_the_named_folder_then_mnist_dir(tmp_path, monkeypatch):
    named, env = tmp_path / "named", tmp_path / "env"
    for folder in (named, env):
        folder.mkdir()
        for name in mnist_files.FILES:
            shutil.copyfile(mnist_files.REPO_COPY / name, folder / name)
    monkeypatch.setenv("MNIST_DIR", str(env))
    assert mnist_files.locate(named, log=_no_log) == named
    assert mnist_files.locate(None, log=_no_log) == env
    monkeypatch.delenv("MNIST_DIR")
    assert mnist_files.locate(None, log=_no_log) == mnist_files.REPO_COPY


def test_locate_downloads_only_what_is_missing_into_the_folder_asked_for(tmp_path):
    dest = tmp_path / "partial"
    dest.mkdir()
    shutil.copyfile(mnist_files.REPO_COPY / "train-labels-idx1-ubyte.gz", dest / "train-labels-idx1-ubyte.gz")
    lines = []
    with mirror(mnist_files.REPO_COPY) as url:
        assert mnist_files.locate(dest, environ={}, mirrors=(url,), log=lines.append) == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(mnist_files.FILES)
    assert len([line for line in lines if line.startswith("downloaded ")]) == 3


def _no_log(_):
    raise AssertionError("nothing should be logged when the files are all there")


def test_download_takes_the_missing_files_from_the_first_good_mirror(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    for name in mnist_files.FILES:
        shutil.copyfile(MNIST_DIR / name, good / name)
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in mnist_files.FILES:
        (bad / name).write_bytes(b"not mnist")
    dest = tmp_path / "dest"
    dest.mkdir()
    shutil.copyfile(MNIST_DIR / "t10k-labels-idx1-ubyte.gz", dest / "t10k-labels-idx1-ubyte.gz")
    lines = []
    with mirror(bad) as bad_url, mirror(good) as good_url:
        mnist_files.download(dest, mirrors=(bad_url, good_url), log=lines.append)
    assert mnist_files.verify(dest) == dest
    # Three downloads (the fourth file was there), each from the good mirror after the bad one.
    assert lines == ["downloaded %s%s" % (good_url, name) for name in mnist_files.FILES
                     if name != "t10k-labels-idx1-ubyte.gz"]
    assert sorted(p.name for p in dest.iterdir()) == sorted(mnist_files.FILES)


def test_a_corrupt_download_is_never_kept(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in mnist_files.FILES:
        (bad / name).write_bytes(b"not mnist")
    dest = tmp_path / "dest"
    with mirror(bad) as url, pytest.raises(OSError, match="md5"):
        mnist_files.download(dest, mirrors=(url,), log=lambda _: None)
    assert list(dest.iterdir()) == []


def test_a_wrong_file_in_the_folder_is_refused(tmp_path):
    for name in mnist_files.FILES:
        shutil.copyfile(MNIST_DIR / name, tmp_path / name)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    with pytest.raises(mnist_files.ChecksumError, match="train-labels"):
        mnist_files.ensure(tmp_path, log=lambda _: None)


def test_test_split_and_csv(tmp_path):
    images, labels = mnist_files.test_split(MNIST_DIR)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    lines = list(mnist_files.csv_lines(images[:3]))
    assert len(lines) == 3 and all(line.endswith("\n") for line in lines)
    assert [int(v) for v in lines[0].split(",")] == images[0].reshape(-1).tolist()
