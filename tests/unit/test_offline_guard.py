"""local_mode.offline: the environment of a local run, and the guard that keeps it on this machine."""
import os
import socket
import subprocess
import sys
import threading

import pytest

from local_mode import offline
from support import REPO

pytestmark = pytest.mark.unit


def test_importing_the_flow_changes_no_environment():
    # Region, keys and the telemetry opt-out are set only for a run, never at import time.
    code = ("import os, json; before = dict(os.environ); "
            "import local_mode.cli, local_mode.endpoint, local_mode.sdk3, local_mode.offline, "
            "cloud.lambda_function.handler; "
            "print(json.dumps(dict(os.environ) == before))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert out.stdout.strip() == "true"


def test_the_offline_environment_is_set_inside_and_restored_after(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "my-real-profile")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    before = dict(os.environ)
    with offline.offline_environment(tmp_path) as config:
        assert os.environ["AWS_DEFAULT_REGION"] == offline.REGION
        assert os.environ["AWS_ACCESS_KEY_ID"] == offline.FAKE_ACCESS_KEY_ID
        assert "AWS_PROFILE" not in os.environ
        assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
        assert os.environ[offline.SAGEMAKER_USER_CONFIG_OVERRIDE] == config
        assert "TelemetryOptOut: true" in open(config).read()
    assert dict(os.environ) == before


def test_the_sdk_reads_the_telemetry_opt_out(tmp_path):
    from sagemaker.config import load_sagemaker_config

    with offline.offline_environment(tmp_path):
        config = load_sagemaker_config()
    assert config["SageMaker"]["PythonSDK"]["Modules"]["TelemetryOptOut"] is True
    assert config == offline.SDK_CONFIG


def test_an_aws_call_is_refused_and_recorded(tmp_path):
    import boto3

    with offline.offline_environment(tmp_path), offline.RequestGuard() as guard:
        session = guard.attach(boto3.Session(region_name=offline.REGION))
        with pytest.raises(offline.OfflineViolation):
            session.client("sts").get_caller_identity()
    assert len(guard.refused) == 1
    assert "GetCallerIdentity" in guard.refused[0] and "sts" in guard.refused[0]


def test_a_connection_off_the_machine_is_refused_before_any_packet():
    with offline.RequestGuard() as guard:
        with socket.socket() as s, pytest.raises(offline.OfflineViolation):
            s.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed
        with pytest.raises(offline.OfflineViolation):
            socket.getaddrinfo("sagemaker.us-east-1.amazonaws.com", 443)
    assert guard.refused == ["connect ('192.0.2.1', 443)", "name lookup 'sagemaker.us-east-1.amazonaws.com'"]


def test_loopback_and_unix_sockets_pass(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted = threading.Thread(target=lambda: server.accept()[0].close())
    accepted.start()
    with offline.RequestGuard() as guard:
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
        socket.getaddrinfo("localhost", 80)
        unix = socket.socket(socket.AF_UNIX)
        with pytest.raises(OSError):
            unix.connect(str(tmp_path / "no-such-socket"))
        unix.close()
    accepted.join(5)
    server.close()
    assert guard.refused == []


def test_the_guard_is_inactive_outside_its_block():
    with offline.RequestGuard() as guard:
        pass
    # The audit hook stays installed (hooks cannot be removed) but lets everything pass: nothing
    # raised, nothing recorded.
    offline._audit("socket.getaddrinfo", ("sagemaker.us-east-1.amazonaws.com", 443, 0, 0, 0))
    with socket.socket() as s:
        offline._audit("socket.connect", (s, ("192.0.2.1", 443)))
    assert guard.refused == []


@pytest.mark.parametrize("host, local", [
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.0.0.53", True), (None, True),
    ("172.17.0.2", False), ("10.0.0.1", False), ("s3.amazonaws.com", False), ("169.254.169.254", False),
])
def test_is_local_host(host, local):
    assert offline.is_local_host(host) is local
