#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine, installing one when none does.
#
# Usage: scripts/install-docker-engine.sh
#
# On Debian or Ubuntu as root it installs docker.io (engine and client), docker-compose (v1,
# which SageMaker SDK v2 local mode falls back to) and debootstrap (build.sh's fallback base
# image), then starts dockerd. Where `docker info` already answers and the tools are present it
# changes nothing.
set -euo pipefail

log() { printf 'install-docker-engine: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

engine_answers() { command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; }
compose_present() { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; }

missing=()
command -v dockerd >/dev/null 2>&1 || engine_answers || missing+=(docker.io)
compose_present || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)

if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || die "need root to install ${missing[*]}; run as root or install them yourself"
    command -v apt-get >/dev/null 2>&1 || die "no apt-get: install ${missing[*]} with your system's package manager"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if engine_answers; then
    log "engine answers: $(docker version --format '{{.Server.Version}}')"
    exit 0
fi

# A client alone (for example a static docker CLI in /usr/local/bin) shadows Debian's; the
# daemon we start is /usr/bin/dockerd either way.
dockerd_bin=$(command -v dockerd) || die "dockerd not found after install"
[[ $(id -u) -eq 0 ]] || die "no Docker daemon answers and starting one needs root"
log "starting $dockerd_bin (log: /var/log/dockerd.log)"
(setsid "$dockerd_bin" >/var/log/dockerd.log 2>&1 &)

deadline=$((SECONDS + 60))
until timeout 10 docker info >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "dockerd did not answer within 60 s; see /var/log/dockerd.log"
    sleep 1
done
log "engine answers: $(docker version --format '{{.Server.Version}}')"
