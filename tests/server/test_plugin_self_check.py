"""The plugin's self-check (mms_plugin/SelfCheck.java, run by the image build): it passes on the
installed MMS, and fails loudly when MMS's classes are not the ones the agent rewrites."""
import pytest

from sagemaker_mnist_container import plugin

pytestmark = pytest.mark.server

NOT_MMS_MODEL = "package com.amazonaws.ml.mms.wlm;\npublic class Model {}\n"


def test_every_rewrite_applies_to_the_installed_mms(plugin_jar):
    done = plugin.check(plugin_jar)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok     mnist whole frames: applied" in done.stdout
    assert "ok     mnist worker affinity: applied" in done.stdout


def test_with_worker_affinity_off_the_model_is_left_alone(plugin_jar):
    done = plugin.check(plugin_jar, vmargs=["-Dmnist.worker_affinity=false"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok     mnist worker affinity: not applied" in done.stdout


def test_an_mms_whose_model_class_differs_fails_the_check(plugin_jar, tmp_path):
    # A Model class without MMS's lock and queue, found before MMS's own: as another MMS version's.
    source = tmp_path / "src" / "Model.java"
    source.parent.mkdir()
    source.write_text(NOT_MMS_MODEL)
    classes = tmp_path / "classes"
    classes.mkdir()
    plugin.javac([source], classes, [])
    done = plugin.check(plugin_jar, class_path=[classes])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED mnist worker affinity: could not be applied" in done.stdout
    assert "ERROR mnist worker affinity: NOT APPLIED" in done.stderr
    assert "ok     mnist whole frames: applied" in done.stdout
