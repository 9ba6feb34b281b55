"""The plugin's start-up check (mms_plugin/Agent.java; SelfCheck.java runs it alone in the image
build): it passes on the installed MMS, and stops the JVM loudly when MMS's classes are not the
ones the agent rewrites."""
import pytest

from sagemaker_mnist_container import plugin

pytestmark = pytest.mark.server

NOT_MMS_MODEL = "package com.amazonaws.ml.mms.wlm;\npublic class Model {}\n"


def test_every_rewrite_applies_to_the_installed_mms(plugin_jar):
    done = plugin.check(plugin_jar)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok     mnist whole frames: applied" in done.stdout
    assert "ok     mnist worker affinity: applied" in done.stdout
    assert "ok     mnist http front: applied" in done.stdout


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
    # The agent stops the JVM before any main runs (as it stops MMS's), naming what did not apply.
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ERROR mnist worker affinity: NOT APPLIED" in done.stderr
    assert "the model server does not start without [mnist worker affinity]" in done.stderr
    assert "ERROR mnist whole frames" not in done.stderr
    assert "ok     " not in done.stdout
