"""sagemaker_mnist.pretrained: the `model` channel's model.tar.gz (or its two files) read back as
the weights an earlier job saved, the job's width taken from it, the kind head kept, added or
dropped as printed-share says; and everything that is not one of this image's models fails with
one line naming the file and what is accepted."""
import io
import json
import tarfile
import zipfile

import pytest
import torch

from sagemaker_mnist import artifacts, model, pretrained
from sagemaker_mnist.failures import TrainingError
from sagemaker_mnist.hyperparameters import parse
from training_job import pack_model

pytestmark = pytest.mark.unit

WIDTH = 4


def _artifact(tmp_path, kinds=False, name="earlier"):
    """An earlier job's /opt/ml/model, as artifacts.write leaves it."""
    torch.manual_seed(3)
    config = {"width": WIDTH, "kinds": True} if kinds else {"width": WIDTH}
    net = model.MnistNet(**config)
    folder = tmp_path / name
    artifacts.write(str(folder), net, config)
    return folder, net


def _channel(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    return folder


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("prefix", ["./", ""], ids=["dot-slash", "bare"])
def test_a_model_tar_gz_gives_back_the_earlier_jobs_net(tmp_path, prefix):
    folder, net = _artifact(tmp_path)
    channel = _channel(tmp_path)
    pack_model(folder, channel / "model.tar.gz", prefix)
    found = pretrained.read(str(channel))
    assert found.source == "model/model.tar.gz" and found.config == {"width": WIDTH} and not found.has_kind
    fresh = model.MnistNet(WIDTH)
    assert pretrained.load_into(fresh, found) == ""
    assert _same_weights(fresh, net)


def test_the_extracted_files_serve_as_well(tmp_path):
    folder, net = _artifact(tmp_path)
    channel = _channel(tmp_path)
    for name in ("model.pth", "model.json"):
        (channel / name).write_bytes((folder / name).read_bytes())
    found = pretrained.read(str(channel))
    assert found.source == "model/model.pth"
    fresh = model.MnistNet(WIDTH)
    pretrained.load_into(fresh, found)
    assert _same_weights(fresh, net)


def test_the_job_takes_the_models_width_unless_it_sets_another(tmp_path):
    folder, _ = _artifact(tmp_path)
    channel = _channel(tmp_path)
    pack_model(folder, channel / "model.tar.gz")
    found = pretrained.read(str(channel))
    env = {"SM_CHANNEL_MODEL": str(channel)}
    settings = parse([], env)
    assert settings.hp.preset == "fine-tune" and settings.hp.width != WIDTH
    assert pretrained.resolve(settings.hp, settings.explicit, found).width == WIDTH
    same = parse(["--width", str(WIDTH)], env)
    assert pretrained.resolve(same.hp, same.explicit, found).width == WIDTH
    other = parse(["--width", "8"], env)
    with pytest.raises(TrainingError) as failure:
        pretrained.resolve(other.hp, other.explicit, found)
    assert str(failure.value) == (
        "hyperparameter width=8 does not fit the 'model' channel's model model/model.tar.gz, of width 4: "
        "leave width unset to fine-tune at the model's width, or train afresh without the 'model' channel")


@pytest.mark.parametrize("saved_kinds,job_kinds,outcome", [
    (True, True, "kept"), (False, True, "added"), (True, False, "dropped"), (False, False, "")])
def test_the_kind_head_follows_printed_share(tmp_path, saved_kinds, job_kinds, outcome):
    folder, net = _artifact(tmp_path, kinds=saved_kinds)
    channel = _channel(tmp_path)
    pack_model(folder, channel / "model.tar.gz")
    found = pretrained.read(str(channel))
    torch.manual_seed(11)
    job_net = model.MnistNet(WIDTH, kinds=job_kinds)
    before = {k: v.clone() for k, v in job_net.state_dict().items()}
    assert pretrained.load_into(job_net, found) == outcome
    saved = net.state_dict()
    for key, value in job_net.state_dict().items():
        if key.startswith("kind.") and not saved_kinds:
            assert torch.equal(value, before[key]), key  # a new head starts as a fresh job's would
        else:
            assert torch.equal(value, saved[key]), key


def _tar(members):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _weights(state):
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()


def _net_state(width=WIDTH, **config):
    return model.MnistNet(width, **config).state_dict()


def _older_architecture():
    # A net whose hidden layer had another name: what a change to MnistNet would leave behind.
    state = _net_state()
    state["classifier.hidden.weight"] = state.pop("classifier.1.weight")
    return state


def _zip_bytes():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("model.pth", b"x")
    return out.getvalue()


JSON4 = json.dumps({"width": WIDTH}).encode()
BAD = [
    # (case, the channel's files, words of the failure line)
    ("not-an-archive", {"model.tar.gz": b"not a tarball at all" * 20},
     ["model/model.tar.gz is not a model.tar.gz (a gzipped tar archive",
      "give the model.tar.gz of a training job of this image (S3ModelArtifacts), or its model.pth and "
      "model.json"]),
    ("a-zip", {"model.zip": _zip_bytes()}, ["model/model.zip is not a model.tar.gz"]),
    ("no-model-json", {"model.tar.gz": _tar({"model.pth": _weights(_net_state())})},
     ["model/model.tar.gz has no model.json at its top (it holds model.pth)"]),
    ("an-archive-of-something-else", {"model.tar.gz": _tar({"data/train.csv": b"1,2\n"})},
     ["model/model.tar.gz has no model.pth or model.json at its top (it holds data/train.csv)"]),
    ("other-architecture-keys", {"model.json": json.dumps({"width": 4, "depth": 3}).encode(),
                                 "model.pth": _weights(_net_state())},
     ['model/model.pth: model.json is {"width": 4, "depth": 3}, not this image\'s architecture']),
    ("model-json-not-json", {"model.json": b"width=4", "model.pth": _weights(_net_state())},
     ["model.json is width=4, not this image's architecture"]),
    ("weights-of-another-width", {"model.json": JSON4, "model.pth": _weights(_net_state(8))},
     ["model/model.pth holds weights of another architecture than this image's MnistNet of width 4",
      "features.0.weight is 8x1x4x4, this image's is 4x1x4x4", "train afresh without a 'model' channel"]),
    ("weights-of-an-older-architecture", {"model.json": JSON4, "model.pth": _weights(_older_architecture())},
     ["holds weights of another architecture", "(no classifier.1.weight)"]),
    ("weights-not-torch", {"model.json": JSON4, "model.pth": b"\x00" * 64},
     ["model/model.pth: model.pth cannot be read as PyTorch weights"]),
    ("two-other-files", {"a.bin": b"1", "b.bin": b"2"},
     ["channel 'model' holds 2 files (a.bin, b.bin) but no model.pth and model.json"]),
    ("empty", {}, ["channel 'model' is empty"]),
]


@pytest.mark.parametrize("case,files,words", BAD, ids=[b[0] for b in BAD])
def test_what_is_not_a_model_of_this_image_fails_with_one_line(tmp_path, case, files, words):
    channel = _channel(tmp_path)
    for name, data in files.items():
        (channel / name).write_bytes(data)
    with pytest.raises(TrainingError) as failure:
        pretrained.read(str(channel))
    message = str(failure.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_a_model_channel_without_a_folder_is_refused(tmp_path):
    with pytest.raises(TrainingError, match=r"channel 'model' has no folder .* cannot come in Pipe mode"):
        pretrained.read(str(tmp_path / "model"))
