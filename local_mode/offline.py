"""Keeps SageMaker Python SDK local runs on this machine.

SDK local mode needs an AWS region and credentials to build its boto3 session, even though it
never needs to call AWS; left to itself it would also find a user's real profile, ask the EC2
metadata service for credentials and send telemetry. `offline_environment()` sets a region,
fake keys and a telemetry opt-out for the duration of one local run and restores the process
environment afterwards (nothing is set at import time). `RequestGuard` records and refuses
every AWS request made through a boto3 session it is attached to, and every connection or
name lookup the process tries towards anything but this machine, so a test can assert that
nothing left it. Only the Python standard library is used here: SDK v2's and SDK v3's
virtual environments both import this module.
"""
import contextlib
import ipaddress
import os
import socket
import sys
import threading

REGION = "us-east-1"
# Local mode checks only that these exist; they are not keys of any account.
FAKE_ACCESS_KEY_ID = "AKIAOFFLINELOCALMODE"
FAKE_SECRET_ACCESS_KEY = "offline-local-mode-fake-secret-key-0000"
# Estimators and models insist on an execution role; local mode never assumes it.
FAKE_ROLE_ARN = "arn:aws:iam::000000000000:role/offline-local-mode"

# The SDK reads its defaults (telemetry opt-out included) from the files these two name; both
# point at our file so that neither a user's ~/.config nor an admin's /etc/xdg file applies.
SAGEMAKER_USER_CONFIG_OVERRIDE = "SAGEMAKER_USER_CONFIG_OVERRIDE"
SAGEMAKER_ADMIN_CONFIG_OVERRIDE = "SAGEMAKER_ADMIN_CONFIG_OVERRIDE"
SDK_CONFIG_FILENAME = "sagemaker-sdk-config.yaml"
# SDK defaults schema (SchemaVersion 1.0): SageMaker.PythonSDK.Modules.TelemetryOptOut.
SDK_CONFIG_YAML = """\
SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      TelemetryOptOut: true
"""
# The same defaults as a dict, for sessions that take their config directly.
SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}

_REMOVED = object()


def offline_variables(config_path):
    """The environment of an offline run: variable -> value, or None to unset it."""
    return {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
        # A user's ~/.aws files could name SSO, a credential process or an endpoint: ignore them.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        # botocore would otherwise ask 169.254.169.254 for credentials and a region.
        "AWS_EC2_METADATA_DISABLED": "true",
        SAGEMAKER_USER_CONFIG_OVERRIDE: str(config_path),
        SAGEMAKER_ADMIN_CONFIG_OVERRIDE: str(config_path),
    }


@contextlib.contextmanager
def environ(values):
    """Sets (or, for None, unsets) environment variables for the block, then restores them."""
    saved = {name: os.environ.get(name, _REMOVED) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is _REMOVED:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def offline_environment(workdir):
    """Sets the offline variables (writing the SDK config file into workdir), then restores.

    Yields the path of the SDK config file.
    """
    config_path = os.path.join(os.fspath(workdir), SDK_CONFIG_FILENAME)
    with open(config_path, "w") as f:
        f.write(SDK_CONFIG_YAML)
    with environ(offline_variables(config_path)):
        yield config_path


class OfflineViolation(RuntimeError):
    """A local run tried to reach AWS or another machine."""


def is_local_host(host):
    """True for names and addresses that stay on this machine."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]")
    if host in ("", "localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class RequestGuard:
    """Records and refuses requests that would leave this machine, while active.

    Two nets: a botocore `before-send` hook on each boto3 session handed to `attach()` (every
    AWS API call of those sessions, whatever its endpoint), and a Python audit hook on socket
    connections and name lookups (anything else in this process: requests, urllib3, other
    boto3 sessions). Connections over Unix sockets (the Docker engine) and to loopback
    addresses (the local endpoint) pass. Child processes (docker, docker-compose) are not
    covered; they talk only to the local Docker engine.
    """

    def __init__(self):
        self.refused = []
        self._lock = threading.Lock()

    def attach(self, boto_session):
        """Refuses every request of this boto3 session (and the clients made from it)."""
        boto_session.events.register("before-send", self._refuse_aws_request)
        return boto_session

    def _refuse_aws_request(self, request, event_name=None, **kwargs):
        self._refuse("aws %s: %s %s" % ((event_name or "before-send").split(".", 1)[-1], request.method, request.url))

    def _refuse(self, what):
        with self._lock:
            self.refused.append(what)
        raise OfflineViolation("offline run refused a request off this machine: %s" % what)

    def check_connect(self, sock, address):
        if getattr(sock, "family", None) == getattr(socket, "AF_UNIX", object()):
            return
        host = address[0] if isinstance(address, tuple) else address
        if not is_local_host(host):
            self._refuse("connect %r" % (address,))

    def check_lookup(self, host):
        if not is_local_host(host):
            self._refuse("name lookup %r" % (host,))

    def __enter__(self):
        _install_audit_hook()
        _active_guards.append(self)
        return self

    def __exit__(self, *exc_info):
        _active_guards.remove(self)
        return False


_active_guards = []
_hook_installed = False
_hook_lock = threading.Lock()


def _audit(event, args):
    if not _active_guards:
        return
    guard = _active_guards[-1]
    if event == "socket.connect":
        guard.check_connect(args[0], args[1])
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        guard.check_lookup(args[0])


def _install_audit_hook():
    # Audit hooks cannot be removed once added: add one per process, on first use, and let it
    # do nothing while no guard is active.
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True
