#!/usr/bin/env bash
# Builds the SageMaker training and inference images, and pushes them to Amazon ECR or any
# registry. Run ./build.sh --help for the options.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: ./build.sh [options]

Builds both images (Dockerfile.train, Dockerfile.serve), tagged :<git short sha> and :latest;
with --cpu also the CPU inference image.

Images
  --train-name NAME        training image name (default: mnist-pytorch-training)
  --serve-name NAME        inference image name (default: mnist-pytorch-inference)
  --cpu                    also the CPU inference image: Dockerfile.serve with PyTorch's CPU
                           build (requirements/torch-cpu.txt), for CPU instances, serverless,
                           asynchronous and multi-model endpoints. Its torch comes from the pip
                           sources below: on a machine without such a mirror add
                           --pip-extra-index-url https://download.pytorch.org/whl/cpu
  --serve-cpu-name NAME    CPU inference image name (default: the inference image's name + -cpu)
  --only train|serve|serve-cpu
                           build (and push) one image
  --tag TAG                extra tag, repeatable (default tags: git short sha, latest)
  --no-build               push what is already built

Base image
  --base-image IMAGE       FROM image (default: debian:bookworm-slim). It needs glibc and apt;
                           CUDA comes inside the torch wheels, the driver from the host.
  --debootstrap            make the base with debootstrap + docker import instead of pulling
                           (also done automatically when the pull fails)

Package sources (air-gapped machines, corporate mirrors, TLS-intercepting proxies)
  --pip-index-url URL      index for the image's pip (default: the host pip's configuration)
  --pip-extra-index-url URL
  --pip-find-links URL|DIR repeatable; local directories are served to the build on 127.0.0.1
  --no-host-pip-config     do not copy the host's `pip config list` sources
  --ca-certs FILE|DIR      extra CA certificates (PEM) for the build's pip, repeatable
                           (default: /usr/local/share/ca-certificates/*.crt when present);
                           handed over as a BuildKit secret, never stored in a layer
  --no-host-ca-certs       do not pick up the host's extra CA certificates

Push
  --push                   push both tags: to --registry when given, else to Amazon ECR
  --registry HOST[:PORT]   any registry (for example 127.0.0.1:5000)
  --account ID             ECR account (default: $AWS_ACCOUNT_ID, else aws sts get-caller-identity)
  --region REGION          ECR region (default: $AWS_REGION, $AWS_DEFAULT_REGION, aws configure)

  -h, --help               this text

Environment: DOCKER picks the docker client (it must support BuildKit).
USAGE
}

log() { printf '\033[1mbuild.sh:\033[0m %s\n' "$*" >&2; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

train_name=mnist-pytorch-training
serve_name=mnist-pytorch-inference
serve_cpu_name=""
cpu=0
only=""
extra_tags=()
do_build=1
base_image=debian:bookworm-slim
base_image_given=0
force_debootstrap=0
pip_args=()
host_pip_config=1
ca_certs=()
host_ca_certs=1
push=0
registry=""
account=${AWS_ACCOUNT_ID:-}
region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}

need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --train-name) need_value "$@"; train_name=$2; shift ;;
        --serve-name) need_value "$@"; serve_name=$2; shift ;;
        --serve-cpu-name) need_value "$@"; serve_cpu_name=$2; shift ;;
        --cpu) cpu=1 ;;
        --only) need_value "$@"; only=$2; shift
            [[ $only == train || $only == serve || $only == serve-cpu ]] \
                || die "--only takes train, serve or serve-cpu, not '$only'" ;;
        --tag) need_value "$@"; extra_tags+=("$2"); shift ;;
        --no-build) do_build=0 ;;
        --base-image) need_value "$@"; base_image=$2; base_image_given=1; shift ;;
        --debootstrap) force_debootstrap=1 ;;
        --pip-index-url) need_value "$@"; pip_args+=(--index-url "$2"); shift ;;
        --pip-extra-index-url) need_value "$@"; pip_args+=(--extra-index-url "$2"); shift ;;
        --pip-find-links) need_value "$@"; pip_args+=(--find-links "$2"); shift ;;
        --no-host-pip-config) host_pip_config=0 ;;
        --ca-certs) need_value "$@"; [[ -e $2 ]] || die "--ca-certs $2: no such file or directory"
            ca_certs+=("$2"); shift ;;
        --no-host-ca-certs) host_ca_certs=0 ;;
        --push) push=1 ;;
        --registry) need_value "$@"; registry=$2; shift ;;
        --account) need_value "$@"; account=$2; shift ;;
        --region) need_value "$@"; region=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option '$1'" ;;
    esac
    shift
done

# --- Docker: a client that can use BuildKit (the Dockerfiles use RUN --mount), and a daemon.
pick_docker() {
    local candidates=() c
    [[ -n ${DOCKER:-} ]] && candidates+=("$DOCKER")
    command -v docker >/dev/null 2>&1 && candidates+=("$(command -v docker)")
    [[ -x /usr/bin/docker ]] && candidates+=(/usr/bin/docker)
    ((${#candidates[@]})) || die "no docker client found. Install Docker (on Debian or Ubuntu as root: scripts/install-docker-engine.sh)"
    for c in "${candidates[@]}"; do
        # Clients before 23.0 carry BuildKit inside; later ones need the buildx plugin.
        if "$c" buildx version >/dev/null 2>&1; then echo "$c"; return; fi
        local v
        v=$("$c" version --format '{{.Client.Version}}' 2>/dev/null || true)
        if [[ $v =~ ^(1[89]|20|21|22)\. ]]; then echo "$c"; return; fi
    done
    die "no docker client with BuildKit among: ${candidates[*]}. Install the buildx plugin (docker-buildx-plugin)"
}
docker_bin=$(pick_docker)
docker() { "$docker_bin" "$@"; }
export DOCKER_BUILDKIT=1
docker info >/dev/null 2>&1 || die "the Docker daemon is not answering ($docker_bin info failed). Start it (systemctl start docker), or on Debian/Ubuntu as root run scripts/install-docker-engine.sh"

# --- Tags
sha=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
if [[ -n $(git status --porcelain 2>/dev/null) ]]; then sha="$sha-dirty"; fi
tags=("$sha" latest "${extra_tags[@]}")

images=()
[[ -z $only || $only == train ]] && images+=(train)
[[ -z $only || $only == serve ]] && images+=(serve)
[[ (-z $only && $cpu == 1) || $only == serve-cpu ]] && images+=(serve-cpu)
serve_cpu_name=${serve_cpu_name:-$serve_name-cpu}
image_name() {
    case $1 in
        train) echo "$train_name" ;;
        serve) echo "$serve_name" ;;
        serve-cpu) echo "$serve_cpu_name" ;;
    esac
}

workdir=$(mktemp -d)
mirror_pid=""
cleanup() {
    [[ -n $mirror_pid ]] && kill "$mirror_pid" 2>/dev/null || true
    rm -rf "$workdir"
}
trap cleanup EXIT

# --- Base image: pull the default; where no registry is reachable, make one with debootstrap.
debootstrap_base() {
    local name=mnist-base:bookworm-debootstrap
    if docker image inspect "$name" >/dev/null 2>&1; then echo "$name"; return; fi
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing (apt-get install debootstrap, or scripts/install-docker-engine.sh)"
    [[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
    local rootfs="$workdir/rootfs"
    log "making $name with debootstrap (about 80 s)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$workdir/debootstrap.log" 2>&1 \
        || { tail -20 "$workdir/debootstrap.log" >&2; die "debootstrap failed"; }
    tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' - "$name" >/dev/null
    rm -rf "$rootfs"
    echo "$name"
}

resolve_base() {
    if ((force_debootstrap)); then debootstrap_base; return; fi
    if docker image inspect "$base_image" >/dev/null 2>&1; then echo "$base_image"; return; fi
    if docker pull -q "$base_image" >/dev/null 2>&1; then echo "$base_image"; return; fi
    ((base_image_given)) && die "cannot pull --base-image $base_image"
    log "cannot pull $base_image; falling back to a debootstrapped Debian bookworm"
    debootstrap_base
}

# --- Secrets for the build's pip: a pip.conf naming the mirror, extra CA certificates.
build_secrets=()
build_network=()
prepare_pip_sources() {
    local conf="$workdir/pip.conf" args=("${pip_args[@]}")
    ((host_pip_config)) || args+=(--no-host-config)
    ((host_pip_config)) || ((${#pip_args[@]})) || return 0
    python3 scripts/pip_mirror.py --write-conf "$conf" "${args[@]}" 2>"$workdir/pip_mirror.log" &
    mirror_pid=$!
    local deadline=$((SECONDS + 30))
    until [[ -s $conf ]]; do
        kill -0 "$mirror_pid" 2>/dev/null || { cat "$workdir/pip_mirror.log" >&2; die "scripts/pip_mirror.py failed"; }
        ((SECONDS < deadline)) || die "scripts/pip_mirror.py wrote no pip.conf within 30 s"
        sleep 0.2
    done
    if grep -q '^[a-z-]* = ' "$conf"; then
        log "pip sources for the build: $(grep ' = ' "$conf" | tr '\n' ' ')"
        build_secrets+=(--secret "id=pip.conf,src=$conf")
        # Loopback servers are reachable only from the host's network namespace.
        grep -q '127.0.0.1' "$conf" && build_network=(--network host)
    fi
    return 0
}

prepare_ca_bundle() {
    local bundle="$workdir/ca-bundle.pem" src f
    local sources=("${ca_certs[@]}")
    if ((host_ca_certs)) && compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        sources+=(/usr/local/share/ca-certificates)
    fi
    : >"$bundle"
    for src in "${sources[@]}"; do
        if [[ -d $src ]]; then
            for f in "$src"/*.crt "$src"/*.pem; do [[ -f $f ]] && { cat "$f"; echo; } >>"$bundle"; done
        else
            { cat "$src"; echo; } >>"$bundle"
        fi
    done
    if [[ -s $bundle ]]; then
        log "extra CA certificates for the build: ${sources[*]}"
        build_secrets+=(--secret "id=ca-bundle.pem,src=$bundle")
    fi
}

build_one() {
    local kind=$1 base=$2 name
    name=$(image_name "$kind")
    local tag_args=() t start=$SECONDS dockerfile=Dockerfile.$kind variant=()
    for t in "${tags[@]}"; do tag_args+=(-t "$name:$t"); done
    if [[ $kind == serve-cpu ]]; then dockerfile=Dockerfile.serve; variant=(--build-arg TORCH=torch-cpu); fi
    log "building $name ($dockerfile${variant:+ ${variant[*]}}) from $base"
    docker build --progress plain -f "$dockerfile" --build-arg "BASE_IMAGE=$base" "${variant[@]}" \
        "${build_secrets[@]}" "${build_network[@]}" "${tag_args[@]}" . 2>&1 \
        | sed -u "s/^/[$kind] /" >&2
    log "built $name:${tags[0]} in $((SECONDS - start)) s, $(docker image inspect -f '{{.Size}}' "$name:${tags[0]}" | awk '{printf "%.2f GB", $1/1e9}')"
}

# --- Push
ecr_login() {
    command -v aws >/dev/null 2>&1 || die "--push to ECR needs the AWS CLI (pip install awscli), or use --registry"
    if [[ -z $region ]]; then region=$(aws configure get region 2>/dev/null || true); fi
    [[ -n $region ]] || die "no AWS region: give --region or set AWS_REGION"
    if [[ -z $account ]]; then
        account=$(aws sts get-caller-identity --region "$region" --query Account --output text) \
            || die "cannot find the AWS account (aws sts get-caller-identity failed); give --account or check your credentials"
    fi
    registry="$account.dkr.ecr.$region.amazonaws.com"
    local kind repo
    for kind in "${images[@]}"; do
        repo=$(image_name "$kind")
        if ! aws ecr describe-repositories --region "$region" --repository-names "$repo" >/dev/null 2>&1; then
            log "creating ECR repository $repo"
            aws ecr create-repository --region "$region" --repository-name "$repo" \
                --image-scanning-configuration scanOnPush=true >/dev/null
        fi
    done
    local password
    password=$(aws ecr get-login-password --region "$region") || die "aws ecr get-login-password failed"
    docker login --username AWS --password-stdin "$registry" <<<"$password" >/dev/null \
        || die "docker login to $registry failed"
}

push_all() {
    [[ -n $registry ]] || ecr_login
    local kind name t
    for kind in "${images[@]}"; do
        name=$(image_name "$kind")
        for t in "${tags[@]}"; do
            docker image inspect "$name:$t" >/dev/null 2>&1 || die "no image $name:$t to push; build it first"
            docker tag "$name:$t" "$registry/$name:$t"
            log "pushing $registry/$name:$t"
            docker push -q "$registry/$name:$t" >/dev/null
        done
    done
}

if ((do_build)); then
    base=$(resolve_base)
    prepare_pip_sources
    prepare_ca_bundle
    for kind in "${images[@]}"; do build_one "$kind" "$base"; done
fi
if ((push)); then push_all; fi
for kind in "${images[@]}"; do echo "$(image_name "$kind"):${tags[0]}"; done
