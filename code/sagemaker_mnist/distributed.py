"""Which process this is in a training job, and the few collectives the trainer needs.

Three ways a job runs:
  - one process (one host, no torchrun): nothing to set up;
  - torchrun (the toolkit starts it for `sagemaker_torch_distributed_enabled`, one process per
    GPU on every host): torchrun's RANK / WORLD_SIZE / LOCAL_RANK / MASTER_* say everything;
  - several hosts without torchrun: one process per host; rank is the host's index in SM_HOSTS
    and the first host is the rendezvous, as in AWS's PyTorch examples.
Gloo carries CPU tensors, NCCL GPU ones. Only rank 0 writes the model, checkpoints and report.
"""
import datetime
from dataclasses import dataclass

import torch
import torch.distributed as dist

# torchrun's environment (torch.distributed.run).
RANK = "RANK"
WORLD_SIZE = "WORLD_SIZE"
LOCAL_RANK = "LOCAL_RANK"
LOCAL_WORLD_SIZE = "LOCAL_WORLD_SIZE"
MASTER_PORT = "MASTER_PORT"
# The port the toolkit's torchrun launcher uses too; MASTER_PORT overrides it.
DEFAULT_MASTER_PORT = "7777"
# Hosts of a SageMaker job start within minutes of each other; wait that long for the rendezvous.
RENDEZVOUS_TIMEOUT = datetime.timedelta(minutes=15)


@dataclass(frozen=True)
class Cluster:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    device: torch.device

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.world_size > 1


def setup(hosts, current_host, environ):
    """Joins the job's process group when it has more than one process; returns this process's place."""
    cuda = torch.cuda.is_available()
    if RANK in environ and WORLD_SIZE in environ:
        rank, world = int(environ[RANK]), int(environ[WORLD_SIZE])
        local_rank = int(environ.get(LOCAL_RANK, "0"))
        local_world = int(environ.get(LOCAL_WORLD_SIZE, "1"))
        init_method = "env://"
    elif len(hosts) > 1:
        rank, world, local_rank, local_world = hosts.index(current_host), len(hosts), 0, 1
        init_method = "tcp://%s:%s" % (hosts[0], environ.get(MASTER_PORT, DEFAULT_MASTER_PORT))
    else:
        rank, world, local_rank, local_world, init_method = 0, 1, 0, 1, None
    if cuda:
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        device = torch.device("cpu")
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo", init_method=init_method, rank=rank,
                                world_size=world, timeout=RENDEZVOUS_TIMEOUT)
    return Cluster(rank, world, local_rank, local_world, device)


def teardown(cluster):
    if cluster.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(cluster, values):
    """Element-wise sum of a float64 tensor over all processes (returns it, on its device)."""
    if cluster.distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def any_true(cluster, flag):
    """True on every process when `flag` is true on any of them."""
    if not cluster.distributed:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=cluster.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast(cluster, obj):
    """Rank 0's `obj` on every process."""
    if not cluster.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=cluster.device)
    return box[0]


def gather(cluster, obj):
    """[obj of rank 0, obj of rank 1, ...] on every process."""
    if not cluster.distributed:
        return [obj]
    out = [None] * cluster.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(cluster):
    if cluster.distributed:
        dist.barrier()


def threads_per_process(num_cpus, cluster):
    """CPU threads for this process: the host's cores shared by the processes on it."""
    return max(1, num_cpus // max(1, cluster.local_world_size))

