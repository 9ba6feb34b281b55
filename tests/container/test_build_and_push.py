"""The images as built (labels, user, shared layers), and build.sh's push to a real registry
and, up to the AWS boundary, to Amazon ECR."""
import json
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest

from images import SERVE_CPU_IMAGE, SERVE_IMAGE, TRAIN_IMAGE, build_sh, docker, free_port, wait_for

pytestmark = pytest.mark.container


def inspect(image):
    return json.loads(docker("image", "inspect", image).stdout)[0]


def test_serve_image_declares_sagemaker_capabilities_and_runs_as_non_root():
    config = inspect(SERVE_IMAGE)["Config"]
    assert config["Labels"]["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    assert config["Labels"]["com.amazonaws.sagemaker.capabilities.multi-models"] == "true"
    assert config["User"] not in ("", "root", "0")
    assert config["Cmd"] == ["serve"]
    uid = docker("run", "--rm", "--entrypoint", "id", SERVE_IMAGE, "-u").stdout.strip()
    assert uid != "0"


def test_train_image_runs_train_by_default_and_bakes_nothing_under_opt_ml_code():
    config = inspect(TRAIN_IMAGE)["Config"]
    assert config["Cmd"] == ["train"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["SAGEMAKER_TRAINING_MODULE"] == "sagemaker_mnist_container.training:main"
    assert "SAGEMAKER_PROGRAM" not in env  # it would override a script-mode job's entry point
    listing = docker("run", "--rm", TRAIN_IMAGE, "sh", "-c", "ls -A /opt/ml/code 2>/dev/null | wc -l").stdout
    assert listing.strip() == "0"
    # `train` is the image's own (container/train), which runs the toolkit's.
    found = docker("run", "--rm", TRAIN_IMAGE, "sh", "-c", "command -v train").stdout
    assert found.strip() == "/opt/mnist/bin/train"


def test_both_images_carry_the_same_cuda_torch_build_in_shared_layers():
    probe = "import torch, torchvision; print(torch.__version__, torch.version.cuda, torchvision.__version__)"
    versions = {docker("run", "--rm", img, "python", "-c", probe).stdout.strip() for img in (TRAIN_IMAGE, SERVE_IMAGE)}
    assert len(versions) == 1
    torch_version, cuda, vision = versions.pop().split()
    assert torch_version.startswith("2.14.1") and cuda.startswith("13.") and vision.startswith("0.29.1")
    train_layers = inspect(TRAIN_IMAGE)["RootFS"]["Layers"]
    serve_layers = inspect(SERVE_IMAGE)["RootFS"]["Layers"]
    shared = [a for a, b in zip(train_layers, serve_layers) if a == b]
    assert len(shared) >= 4, "the base, Python and torch layers should be common"


def test_the_cpu_image_is_the_inference_image_on_torch_cpu_without_cuda_or_torchvision():
    probe = ("import importlib.metadata as m, importlib.util, torch; print(torch.__version__, torch.version.cuda, "
             "importlib.util.find_spec('torchvision') is not None, "
             "sum(d.metadata['Name'].startswith('nvidia') for d in m.distributions()))")
    assert docker("run", "--rm", SERVE_CPU_IMAGE, "python", "-c", probe).stdout.split() == ["2.13.0+cpu", "None",
                                                                                            "False", "0"]
    cuda, cpu = inspect(SERVE_IMAGE)["Config"], inspect(SERVE_CPU_IMAGE)["Config"]
    assert (cpu["Labels"], cpu["User"], cpu["Cmd"], cpu["ExposedPorts"]) == \
        (cuda["Labels"], cuda["User"], cuda["Cmd"], cuda["ExposedPorts"])
    # What sits above torch is the same: the serving code and the plugin's sources.
    listing = "find /opt/mnist/container /opt/mnist/code -type f -not -path '*/__pycache__/*' | sort | xargs md5sum"
    assert docker("run", "--rm", "--entrypoint", "sh", SERVE_CPU_IMAGE, "-c", listing).stdout == \
        docker("run", "--rm", "--entrypoint", "sh", SERVE_IMAGE, "-c", listing).stdout


def test_images_hold_no_build_secrets():
    # The proxy CA bundle and mirror config are BuildKit secrets: never in a layer.
    for image in (TRAIN_IMAGE, SERVE_IMAGE, SERVE_CPU_IMAGE):
        out = docker("run", "--rm", "--entrypoint", "sh", image, "-c",
                     "ls /run/secrets 2>/dev/null; env | grep -i '^PIP_CONFIG_FILE\\|^PIP_CERT' || true").stdout
        assert out.strip() == ""
        history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
        assert "127.0.0.1" not in history


@pytest.fixture
def registry(tmp_path):
    """A real Docker registry (Debian's docker-registry, Distribution 2.8) on 127.0.0.1."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed (apt-get install docker-registry; .ci/run does)")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: error}\n"
        "storage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}\n"
        "http: {addr: '127.0.0.1:%d'}\n" % (tmp_path / "data", port)
    )
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = "127.0.0.1:%d" % port

    def answers():
        try:
            return urllib.request.urlopen("http://%s/v2/" % host, timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_for(answers, timeout=30, what="registry on %s" % host)
        yield host
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def registry_get(host, path, accept=None):
    request = urllib.request.Request("http://%s%s" % (host, path), headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def registry_tags(registry):
    """The registry, and afterwards no local tag that names it (build.sh tags before pushing)."""
    yield registry
    refs = docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    mine = [ref for ref in refs if ref.startswith(registry + "/")]
    if mine:
        docker("rmi", *mine, check=False)


def test_build_sh_pushes_both_images_to_a_registry_and_they_pull_back_and_run(registry_tags):
    registry = registry_tags
    result = build_sh("--registry", registry, "--push", "--tag", "pushtest")
    assert result.returncode == 0, result.stderr[-3000:]
    pushed = result.stdout.split()  # build.sh prints name:tag of each image
    assert len(pushed) == 2

    assert sorted(registry_get(registry, "/v2/_catalog")["repositories"]) == sorted(
        [TRAIN_IMAGE.split(":")[0], SERVE_IMAGE.split(":")[0]])
    manifests = {}
    for name_tag in pushed:
        name, sha_tag = name_tag.split(":")
        tags = registry_get(registry, "/v2/%s/tags/list" % name)["tags"]
        assert {sha_tag, "latest", "pushtest"} <= set(tags)
        manifest = registry_get(registry, "/v2/%s/manifests/latest" % name,
                                accept="application/vnd.docker.distribution.manifest.v2+json")
        for layer in manifest["layers"]:  # every blob is there, at its size
            head = urllib.request.Request("http://%s/v2/%s/blobs/%s" % (registry, name, layer["digest"]), method="HEAD")
            with urllib.request.urlopen(head, timeout=30) as response:
                assert int(response.headers["Content-Length"]) == layer["size"]
        manifests[name] = manifest
    train_blobs, serve_blobs = ({layer["digest"] for layer in m["layers"]} for m in manifests.values())
    assert len(train_blobs & serve_blobs) >= 4  # the torch layer is stored once

    for name_tag in pushed:
        remote = "%s/%s" % (registry, name_tag)
        docker("rmi", remote)
        docker("pull", remote)
        out = docker("run", "--rm", "--entrypoint", "python", remote, "-c",
                     "import torch, sagemaker_mnist.model; print(sagemaker_mnist.model.MnistNet()(torch.zeros(1, 1, 28, 28)).shape)")
        assert out.stdout.strip() == "torch.Size([1, 10])"


@pytest.fixture
def aws_api(tmp_path):
    """moto's server on 127.0.0.1 standing in for the ECR and STS endpoints: the real AWS CLI
    sends it requests botocore has validated against its service models; nothing leaves the machine."""
    binary = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or shutil.which("moto_server")
    if shutil.which("aws") is None or binary is None:
        pytest.fail("the ECR push test needs the AWS CLI and moto_server (requirements/dev.txt)")
    port = free_port()
    proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d" % port

    def answers():
        try:
            return urllib.request.urlopen(url + "/moto-api/", timeout=2).status == 200
        except OSError:
            return False

    env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_SESSION_TOKEN": "testing", "AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": "us-west-2",
           "AWS_DEFAULT_REGION": "us-west-2"}
    try:
        wait_for(answers, timeout=30, what="moto server")
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def ecr_repositories(env):
    out = subprocess.run(["aws", "ecr", "describe-repositories", "--output", "json"], env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout
    return sorted(r["repositoryName"] for r in json.loads(out)["repositories"])


def test_build_sh_push_to_ecr_creates_repositories_and_logs_in_to_the_account_registry(aws_api):
    result = build_sh("--no-build", "--push", "--region", "us-west-2", env=aws_api, timeout=300)
    # moto's account id (from sts get-caller-identity) names the registry; the docker login to
    # it is where this machine ends: no route to AWS.
    registry = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
    assert result.returncode != 0
    assert "docker login to %s failed" % registry in result.stderr
    assert ecr_repositories(aws_api) == sorted([TRAIN_IMAGE.split(":")[0], SERVE_IMAGE.split(":")[0]])
    # Run again: existing repositories are kept, not created twice (that would be an error).
    again = build_sh("--no-build", "--push", "--account", "123456789012", env=aws_api, timeout=300)
    assert "creating ECR repository" not in again.stderr
    assert "docker login to %s failed" % registry in again.stderr
