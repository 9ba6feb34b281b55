"""How many model workers and how large a JVM heap fit in the memory the container is given.

SageMaker Serverless Inference gives a container 1024-6144 MB, and an instance shares its memory
among everything on it. The toolkit's defaults size neither from that: MMS starts one worker per
CPU it sees, and the JVM (with -XX:-UseContainerSupport, the toolkit's own default) takes a
quarter of the host's memory for its heap. Under a cgroup limit of 2 GB on a large host the kernel
then kills a process of the container under load. Here the limit is read from the cgroup
(v2 `memory.max`, v1 `memory.limit_in_bytes`; the host's memory where neither sets one), and:

- the JVM gets a heap, and as much again for Netty's direct buffers, of an eighth of the limit
  (128 MB to 1 GB), and at least what one request of the endpoint's payload limit needs in it
  (MMS holds a request's body on the heap while it writes it to a worker from a direct buffer);
- each worker is counted with its own memory (a forked worker shares torch's pages with the
  preloader, but holds its model and each request's body, text and arrays), which grows with the
  payload limit; as many workers as fit after the JVM and the two Python processes that serve
  (serve, the preloader), at most one per CPU, at least one.

SAGEMAKER_MODEL_SERVER_WORKERS and SAGEMAKER_MODEL_SERVER_VMARGS still override what is worked
out here (settings.py).
"""
import dataclasses
import os

MB = 2**20
CGROUP_ROOT = "/sys/fs/cgroup"
MEMINFO = "/proc/meminfo"
# cgroup v1 writes "no limit" as the largest page-aligned 64-bit number; anything over the host's
# memory limits nothing.
V2_LIMIT = "memory.max"
V1_LIMIT = "memory/memory.limit_in_bytes"

HEAP_SHARE = 8
MIN_HEAP_MB = 128
MAX_HEAP_MB = 1024
# A request on the heap: its body, and the copy MMS's codec makes while it frames it for a worker.
HEAP_PER_PAYLOAD = 2
# Metaspace, code cache, thread stacks and MMS's classes: what the JVM holds besides its heap and
# direct buffers.
JVM_OVERHEAD_MB = 160
# serve and the preloader (torch, numpy and the handlers imported).
PYTHON_FIXED_MB = 400
# A worker's own memory besides the pages it shares with the preloader, and how many times the
# largest request's size it may hold at once (the body as bytes, as text, the parsed rows, the
# model's input and the answer).
WORKER_BASE_MB = 120
WORKER_PER_PAYLOAD = 6


@dataclasses.dataclass(frozen=True)
class Plan:
    limit_mb: int
    workers: int
    heap_mb: int

    def jvm_flags(self):
        """The JVM options that keep MMS within the plan: its heap, and as much for direct buffers."""
        return ["-Xms%dm" % min(self.heap_mb, MIN_HEAP_MB), "-Xmx%dm" % self.heap_mb,
                "-XX:MaxDirectMemorySize=%dm" % self.heap_mb]


def limit_bytes(cgroup_root=CGROUP_ROOT, meminfo=MEMINFO):
    """The memory this container may use: its cgroup's limit, or the host's memory when that is less
    or when no cgroup sets one."""
    host = _host_bytes(meminfo)
    for name in (V2_LIMIT, V1_LIMIT):
        try:
            with open(os.path.join(cgroup_root, name)) as f:
                raw = f.read().strip()
        except OSError:
            continue
        if raw.isdigit():
            return min(int(raw), host) if host else int(raw)
        # "max": cgroup v2 without a limit.
        break
    return host


def plan(limit, cpus, max_payload_mb):
    """Workers and heap for `limit` bytes of memory, `cpus` CPUs and requests of up to
    `max_payload_mb` (SAGEMAKER_MAX_PAYLOAD_IN_MB)."""
    limit_mb = limit // MB
    heap = min(max(limit_mb // HEAP_SHARE, MIN_HEAP_MB), MAX_HEAP_MB)
    heap = max(heap, HEAP_PER_PAYLOAD * max_payload_mb)
    jvm = 2 * heap + JVM_OVERHEAD_MB
    per_worker = WORKER_BASE_MB + WORKER_PER_PAYLOAD * max_payload_mb
    fits = (limit_mb - jvm - PYTHON_FIXED_MB) // per_worker
    return Plan(limit_mb=limit_mb, workers=max(1, min(cpus, fits)), heap_mb=heap)


def _host_bytes(meminfo):
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
