"""sagemaker_mnist_container.memory: the container's memory limit read from cgroup v2 and v1 files
laid out as the kernel shows them, and the workers and JVM heap planned for it."""
import pytest

from sagemaker_mnist_container import memory
from sagemaker_mnist_container.settings import Settings

pytestmark = pytest.mark.unit

MB = 2**20
HOST = "MemTotal:       24683664 kB\nMemFree:        1000 kB\n"


def _tree(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path / "cgroup"), str(tmp_path / "meminfo")


@pytest.mark.parametrize("files, expected", [
    ({"cgroup/memory.max": "2147483648\n"}, 2048 * MB),                                    # v2, --memory 2048m
    ({"cgroup/memory.max": "max\n"}, 24683664 * 1024),                                     # v2, no limit
    ({"cgroup/memory/memory.limit_in_bytes": "1073741824\n"}, 1024 * MB),                  # v1
    ({"cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 24683664 * 1024),   # v1, no limit
    ({}, 24683664 * 1024),                                                                  # no cgroup files
])
def test_the_limit_is_the_cgroups_or_the_hosts(tmp_path, files, expected):
    root, meminfo = _tree(tmp_path, {"meminfo": HOST, **files})
    assert memory.limit_bytes(root, meminfo) == expected


@pytest.mark.parametrize("limit_mb, cpus, payload_mb, workers, heap_mb", [
    (1024, 2, 6, 1, 128),     # serverless' smallest
    (2048, 2, 6, 2, 256),     # one per CPU fits
    (2048, 8, 6, 6, 256),     # more CPUs than fit
    (2048, 2, 100, 1, 256),   # an asynchronous endpoint's 100 MB requests: one worker
    (6144, 4, 200, 3, 768),
    (24104, 2, 6, 2, 1024),   # a large host: the heap stops at 1 GB
    (2048, 2, 1024, 1, 2048),  # nothing fits: still one worker, and a heap that holds a request
])
def test_the_plan_fits_workers_and_heap_in_the_limit(limit_mb, cpus, payload_mb, workers, heap_mb):
    plan = memory.plan(limit_mb * MB, cpus, payload_mb)
    assert (plan.workers, plan.heap_mb) == (workers, heap_mb)
    assert plan.jvm_flags()[1:] == ["-Xmx%dm" % heap_mb, "-XX:MaxDirectMemorySize=%dm" % heap_mb]


def test_the_settings_take_the_plan_unless_the_variables_say_otherwise():
    planned = Settings.from_env({})
    assert "-Xmx" in planned.vmargs and planned.workers >= 1
    given = Settings.from_env({"SAGEMAKER_MODEL_SERVER_WORKERS": "3",
                               "SAGEMAKER_MODEL_SERVER_VMARGS": "-XX:-UseContainerSupport"})
    assert (given.workers, given.vmargs) == (3, "-XX:-UseContainerSupport")


def test_a_1024_mb_payload_limit_stays_within_a_java_int():
    env = Settings.from_env({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1024"}).toolkit_environment("/plugin.jar")
    assert int(env["MMS_MAX_REQUEST_SIZE"]) == 2**31 - 1
