#!/usr/bin/env bash
# Builds the inference image of an earlier commit's tree for bench/serve_speed.py's cold starts
# (--baseline-image), tagged only NAME:<its short sha>: no :latest, no other image touched.
#
# It runs the `docker build` that tree's build.sh runs (same Dockerfile, build args, secrets and
# network), which build.sh itself cannot do without also tagging :latest. The layers below the
# code (Debian, Python, torch, Java, MMS) are the current images' own when the base and the
# requirements are the same, so with Docker's build cache in place the build takes seconds; the
# cache key includes `--network host`, which both pass when the host's pip sources are local.
set -euo pipefail

usage() { echo "usage: bench/baseline_image.sh TREE [BASE_IMAGE]   (e.g. bench/baseline_image.sh /tmp/wt-666cce5)"; }
die() { printf 'baseline_image.sh: error: %s\n' "$*" >&2; exit 1; }

if [[ $# -lt 1 || $# -gt 2 ]]; then usage >&2; exit 2; fi
if [[ $1 == -h || $1 == --help ]]; then usage; exit 0; fi
tree=$(cd "$1" && pwd) || die "no folder $1"
[[ -f $tree/Dockerfile.serve && -f $tree/scripts/pip_mirror.py ]] || die "$tree has no Dockerfile.serve and scripts/pip_mirror.py"
sha=$(git -C "$tree" rev-parse --short HEAD) || die "$tree is not a git checkout"
[[ -z $(git -C "$tree" status --porcelain) ]] || sha="$sha-dirty"
tag="${SERVE_NAME:-mnist-pytorch-inference}:$sha"
# build.sh's base: debian:bookworm-slim, else the one it makes with debootstrap where no registry answers.
base=${2:-}
docker_bin=${DOCKER:-$( [[ -x /usr/bin/docker ]] && echo /usr/bin/docker || echo docker )}
if [[ -z $base ]]; then
    for candidate in debian:bookworm-slim mnist-base:bookworm-debootstrap; do
        if "$docker_bin" image inspect "$candidate" >/dev/null 2>&1; then base=$candidate; break; fi
    done
    [[ -n $base ]] || die "no base image here; ./build.sh makes one (or pass BASE_IMAGE)"
fi

workdir=$(mktemp -d)
mirror_pid=""
trap '[[ -n $mirror_pid ]] && kill "$mirror_pid" 2>/dev/null; rm -rf "$workdir"' EXIT
# The host's pip sources, served on 127.0.0.1 by the tree's own scripts/pip_mirror.py, as build.sh does.
python3 "$tree/scripts/pip_mirror.py" --write-conf "$workdir/pip.conf" 2>"$workdir/mirror.log" &
mirror_pid=$!
for _ in $(seq 150); do [[ -s $workdir/pip.conf ]] && break; sleep 0.2; done
[[ -s $workdir/pip.conf ]] || { cat "$workdir/mirror.log" >&2; die "scripts/pip_mirror.py wrote no pip.conf"; }
secrets=() network=()
if grep -q '^[a-z-]* = ' "$workdir/pip.conf"; then
    secrets+=(--secret "id=pip.conf,src=$workdir/pip.conf")
    grep -q '127.0.0.1' "$workdir/pip.conf" && network=(--network host)
fi
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cat /usr/local/share/ca-certificates/*.crt >"$workdir/ca-bundle.pem"
    secrets+=(--secret "id=ca-bundle.pem,src=$workdir/ca-bundle.pem")
fi

echo "baseline_image.sh: building $tag from $tree ($(git -C "$tree" rev-parse HEAD)) on $base" >&2
DOCKER_BUILDKIT=1 "$docker_bin" build --progress plain -f "$tree/Dockerfile.serve" --build-arg "BASE_IMAGE=$base" \
    "${secrets[@]}" "${network[@]}" -t "$tag" "$tree" >&2
echo "$tag"
