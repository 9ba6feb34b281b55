#!/bin/sh
# pip for image builds, with the build's two optional secrets (see build.sh):
#   /run/secrets/pip.conf       the index and find-links of a package mirror (air-gapped builds)
#   /run/secrets/ca-bundle.pem  extra CA certificates of a TLS-intercepting proxy
# Secrets are mounted for one RUN only and never enter a layer, so the shipped image trusts no
# proxy and names no mirror.
set -eu
secrets=/run/secrets
if [ -s "$secrets/pip.conf" ]; then
    export PIP_CONFIG_FILE="$secrets/pip.conf"
fi
bundle=
if [ -s "$secrets/ca-bundle.pem" ]; then
    bundle=$(mktemp)
    cat /etc/ssl/certs/ca-certificates.crt "$secrets/ca-bundle.pem" >"$bundle"
    export PIP_CERT="$bundle"
fi
status=0
python3 -m pip "$@" --no-cache-dir --disable-pip-version-check --progress-bar off || status=$?
[ -z "$bundle" ] || rm -f "$bundle"
exit "$status"
