"""Sizes of the images as Docker stores them, and of the layers they share.

    python bench/image_sizes.py [--training mnist-pytorch-training:latest]
                                [--inference mnist-pytorch-inference:latest]
                                [--inference-cpu mnist-pytorch-inference-cpu:latest] [--out DIR]

Reads `docker image inspect` (the uncompressed size `docker images` shows, and each image's layer
digests) and `docker history` (each layer's size), and writes bench/results/image_sizes.json
(bench/provenance.py: the commit, machine, images' ids and tags, every layer). Both Dockerfiles
begin with the same stage, so the images share their first layers (Debian, Python, torch): the
shared size is the sum of the layers both list in the same order from the bottom. The CPU
inference image (./build.sh --cpu) has its own Python and torch layers, and shares only the base.
It measures the images as they are: build them from the commit first (./build.sh tags them with its
short sha).
"""
import argparse
import json
import subprocess
import sys

import provenance

DOCKER = "docker"


def docker(*args):
    try:
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        sys.exit("no docker client on PATH")
    except subprocess.CalledProcessError as e:
        sys.exit("docker %s failed: %s" % (" ".join(args), e.stderr.strip()))


def layer_sizes(name, digests):
    """Each layer's size in bytes, bottom first, or None when `docker history` cannot be matched
    to the layers (it lists every build step; the steps with a size of 0 made no layer)."""
    lines = docker("history", "--no-trunc", "--human=false", "--format", "{{.Size}}", name).split()
    sizes = [int(size) for size in reversed(lines) if int(size) > 0]
    return sizes if len(sizes) == len(digests) else None


def image(name):
    inspected = json.loads(docker("image", "inspect", name))[0]
    digests = inspected["RootFS"]["Layers"]
    sizes = layer_sizes(name, digests)
    return {"name": name, "id": inspected["Id"], "tags": inspected.get("RepoTags") or [],
            "created": inspected.get("Created"), "size_bytes": inspected["Size"],
            "layers": [{"digest": digest, "size_bytes": sizes[i] if sizes else None}
                       for i, digest in enumerate(digests)]}


def shared_layers(a, b):
    """The layers both images list in the same order from the bottom, and their total size."""
    count = 0
    for first, second in zip(a["layers"], b["layers"]):
        if first["digest"] != second["digest"]:
            break
        count += 1
    sizes = [layer["size_bytes"] for layer in a["layers"][:count]]
    return {"layers": count, "size_bytes": sum(sizes) if None not in sizes else None}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training", default="mnist-pytorch-training:latest")
    parser.add_argument("--inference", default="mnist-pytorch-inference:latest")
    parser.add_argument("--inference-cpu", default="mnist-pytorch-inference-cpu:latest")
    parser.add_argument("--out", default=provenance.RESULTS,
                        help="folder for image_sizes.json (default: bench/results, the committed result)")
    args = parser.parse_args(argv)
    version = docker("version", "--format", "{{.Server.Version}}").strip()
    run = provenance.Run("image_sizes", vars(args), argv, docker=version)
    images = {"training": image(args.training), "inference": image(args.inference),
              "inference_cpu": image(args.inference_cpu)}
    shared = shared_layers(images["training"], images["inference"])
    summary = {"size_bytes": {kind: found["size_bytes"] for kind, found in images.items()}, "common_layers": shared}
    path = run.finish({"images": images}, summary, args.out)
    print(run.record["table"])
    print("wrote %s" % path)


if __name__ == "__main__":
    main()
