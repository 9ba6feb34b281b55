"""A user's script-mode training script for several hosts, in the shape of AWS's PyTorch MNIST
example (amazon-sagemaker-examples, pytorch_mnist/mnist.py): the hosts and this host come from
SM_HOSTS and SM_CURRENT_HOST, the rank is the host's place among them, and the process group is
joined with init_process_group's default env:// init method, which finds the rendezvous in
MASTER_ADDR and MASTER_PORT. Started by torchrun, it takes torchrun's RANK and WORLD_SIZE instead.

Each process all-reduces a tensor holding its rank and writes the sum, with the distributed
variables it was given, to SM_MODEL_DIR/all_reduce-<rank>.json.
"""
import argparse
import json
import os

import torch
import torch.distributed as dist

SEEN = ("MASTER_ADDR", "MASTER_PORT", "NCCL_SOCKET_IFNAME", "NCCL_IB_DISABLE", "NCCL_DEBUG")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", type=str, default=None)
    parser.add_argument("--hosts", type=json.loads, default=os.environ["SM_HOSTS"])
    parser.add_argument("--current-host", type=str, default=os.environ["SM_CURRENT_HOST"])
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    args = parser.parse_args()

    torchrun = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    if torchrun:
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    else:
        world_size = len(args.hosts)
        os.environ["WORLD_SIZE"] = str(world_size)
        rank = args.hosts.index(args.current_host)
        os.environ["RANK"] = str(rank)
    dist.init_process_group(backend=args.backend, rank=rank, world_size=world_size)
    total = torch.tensor([float(rank)])
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    dist.destroy_process_group()

    result = {"rank": rank, "world_size": world_size, "sum": total.item(), "torchrun": torchrun,
              "host": args.current_host, "environment": {name: os.environ.get(name) for name in SEEN}}
    with open(os.path.join(args.model_dir, "all_reduce-%d.json" % rank), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
