"""An earlier commit's tree that a bench runs beside the current one (`--baseline-tree DIR`).

The tree is a checkout of that commit, made for the run and named by it:

    git worktree add --detach /tmp/wt-666cce5 666cce5
    .venv/bin/python bench/serve_speed.py --baseline-tree /tmp/wt-666cce5

Its code runs in processes of their own whose Python path holds only the tree's folders (and this
environment's site-packages), so that no module of the current tree stands in for one of its own.
A result records the tree by its commit, never by the folder it was checked out in.
"""
import os
import pathlib
import subprocess


class Tree:
    def __init__(self, path):
        self.path = pathlib.Path(path).resolve()

        def git(*args):
            try:
                return subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, text=True,
                                      check=True).stdout.strip()
            except (OSError, subprocess.CalledProcessError) as e:
                raise SystemExit("--baseline-tree %s: not a git checkout (%s)" % (path, e))

        self.sha = git("rev-parse", "HEAD")
        # The path's name in every table and result: 666cce5.
        self.name = git("rev-parse", "--short", "HEAD")
        self.dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        self.placeholder = "<checkout of %s>" % self.name

    def record(self):
        return {"sha": self.sha, "name": self.name, "dirty": self.dirty}

    def environment(self, *folders):
        """os.environ with PYTHONPATH set to the tree's `folders` alone."""
        return dict(os.environ, PYTHONPATH=os.pathsep.join(str(self.path / f) for f in folders))

    def described(self):
        return "%s (%s%s) at %s" % (self.name, self.sha, ", with uncommitted changes" if self.dirty else "",
                                    self.path)

    def redacted(self, argv, arguments, option="baseline_tree"):
        """(argv, arguments) for the result: the tree's folder replaced by its commit."""
        given = arguments[option]
        argv = [self.placeholder if a == given else
                a.split("=", 1)[0] + "=" + self.placeholder if a.endswith("=" + given) else a for a in argv]
        return argv, dict(arguments, **{option: self.placeholder})
