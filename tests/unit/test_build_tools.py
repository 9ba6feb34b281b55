"""build.sh's argument handling and error messages, and the pip mirror it lends to builds."""
import os
import subprocess
import urllib.request

import pytest

import pip_mirror
from support import REPO

pytestmark = pytest.mark.unit


def run_build_sh(*args, env=None):
    return subprocess.run(["./build.sh", *args], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_help_lists_every_option_it_parses():
    result = run_build_sh("--help")
    assert result.returncode == 0
    source = (REPO / "build.sh").read_text()
    parse_loop = source.split("while [[ $# -gt 0 ]]; do")[1].split("done")[0]
    parsed = {line.strip().split(")")[0] for line in parse_loop.splitlines() if line.strip().startswith("-")}
    assert len(parsed) > 15
    for option in parsed:
        for name in option.split("|"):
            assert name in result.stdout, "%s is parsed but not in --help" % name


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--only", "both"], "--only takes train, serve or serve-cpu"),
    (["--registry"], "--registry needs a value"),
    (["--ca-certs", "/no/such/file.pem"], "--ca-certs /no/such/file.pem: no such file"),
])
def test_bad_arguments_fail_with_a_clear_message(args, message):
    result = run_build_sh(*args)
    assert result.returncode != 0
    assert message in result.stderr


def test_a_daemon_that_does_not_answer_is_reported_with_what_to_do():
    result = run_build_sh("--only", "train", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert result.returncode != 0
    assert "Docker daemon is not answering" in result.stderr
    assert "install-docker-engine.sh" in result.stderr


def test_pip_config_list_output_is_parsed_into_package_sources():
    text = (":env:.find-links='/opt/wheels'\n"
            "global.cert='/etc/ssl/certs/ca-certificates.crt'\n"
            "global.extra-index-url='file:///opt/pypi/simple file:///opt/more/simple'\n"
            "global.index-url='https://mirror.example/simple'\n")
    assert pip_mirror.parse_pip_config_list(text) == {
        "index-url": ["https://mirror.example/simple"],
        "extra-index-url": ["file:///opt/pypi/simple", "file:///opt/more/simple"],
        "find-links": ["/opt/wheels"],
    }


def test_local_sources_are_served_on_loopback_and_remote_ones_kept(tmp_path):
    index = tmp_path / "mirror" / "simple" / "torch"
    index.mkdir(parents=True)
    (index / "index.html").write_text('<a href="../../files/torch.whl">torch.whl</a>')
    (tmp_path / "mirror" / "files").mkdir()
    (tmp_path / "mirror" / "files" / "torch.whl").write_bytes(b"wheel bytes")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    sources = {
        "index-url": ["https://pypi.org/simple"],
        "extra-index-url": ["file://%s" % (tmp_path / "mirror" / "simple"), "file:///no/such/dir"],
        "find-links": [str(wheels)],
    }
    out = pip_mirror.translate(sources)
    assert out["index-url"] == ["https://pypi.org/simple"]
    assert len(out["extra-index-url"]) == 1 and len(out["find-links"]) == 1
    simple = out["extra-index-url"][0]
    assert simple.startswith("http://127.0.0.1:") and simple.endswith("/simple/")
    # A wheel linked relatively from the index (up and out of simple/) is reachable.
    with urllib.request.urlopen(simple + "torch/../../files/torch.whl", timeout=5) as response:
        assert response.read() == b"wheel bytes"
    conf = pip_mirror.render_pip_conf(out)
    assert conf.startswith("[global]\n") and "find-links = http://127.0.0.1:" in conf
