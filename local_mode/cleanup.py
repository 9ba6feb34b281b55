"""Removing what a local run leaves behind: its containers and its temporary folder.

SDK local mode runs each job with docker-compose and leaves the exited containers; a failed
or interrupted step can leave running ones. The flow labels every container it starts (the
SDK's `local.container_config` is merged into each compose service) and keeps every compose
file under one temporary root, so both marks find exactly this run's containers and nobody
else's: docker-compose labels each container with the folder of its compose file.
"""
import json
import os
import shutil
import subprocess

RUN_LABEL = "io.github.mnist-pytorch-sagemaker.local-mode-run"
# Set by docker-compose (v1 and v2) on every container it creates.
COMPOSE_WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
DOCKER_TIMEOUT_S = 120


def _docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, timeout=DOCKER_TIMEOUT_S)


def run_containers(run_id, temp_root):
    """IDs of the containers this run started, running or not."""
    ids = set(_docker("ps", "-aq", "--filter", "label=%s=%s" % (RUN_LABEL, run_id)).stdout.split())
    compose_ids = _docker("ps", "-aq", "--filter", "label=" + COMPOSE_WORKING_DIR_LABEL).stdout.split()
    if compose_ids and temp_root:
        root = os.path.realpath(temp_root) + os.sep
        for info in json.loads(_docker("inspect", *compose_ids, check=False).stdout or "[]"):
            working_dir = (info.get("Config", {}).get("Labels") or {}).get(COMPOSE_WORKING_DIR_LABEL, "")
            if os.path.realpath(working_dir).startswith(root):
                ids.add(info["Id"][:12])
    return sorted(ids)


def remove_containers(run_id, temp_root):
    """Force-removes this run's containers; returns the IDs removed."""
    ids = run_containers(run_id, temp_root)
    if ids:
        _docker("rm", "-f", "-v", *ids, check=False)
    return ids


def remove_tree(path, helper_image=None):
    """Deletes a folder, also when containers wrote files into it as another user.

    Containers write into their bind mounts as their own user (root in the training image);
    a user without root cannot delete those files, so the leftovers are deleted from inside a
    throwaway container of helper_image, which runs as root.
    """
    if not os.path.lexists(path):
        return
    try:
        shutil.rmtree(path)
        return
    except PermissionError:
        if not helper_image:
            raise
    parent, name = os.path.split(os.path.abspath(path))
    _docker("run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "rm",
            "-v", "%s:/cleanup" % parent, helper_image, "-rf", "/cleanup/" + name)
    if os.path.lexists(path):
        raise OSError("could not delete %s" % path)
