#!/usr/bin/env bash
# Install promtool (from Debian's `prometheus` package) into a project-local directory, without
# installing the Prometheus service or its dependencies: `apt-get download` + `dpkg-deb -x`.
# Idempotent: does nothing when promtool is already there. Prints the promtool path on stdout.
# Used by .ci/run before the tests; tests/integration/test_monitoring.py looks in the same place
# (or in $PROMTOOL).
#
#   scripts/install-promtool.sh [DEST]        DEST defaults to <repo>/.tools/prom
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-${repo_root}/.tools/prom}"
promtool="${dest}/usr/bin/promtool"

log() { echo "install-promtool: $*" >&2; }

if [[ -x "${promtool}" ]] && "${promtool}" --version >/dev/null 2>&1; then
    echo "${promtool}"
    exit 0
fi

command -v apt-get >/dev/null || { log "apt-get not found: install promtool yourself and set PROMTOOL"; exit 1; }
command -v dpkg-deb >/dev/null || { log "dpkg-deb not found: install promtool yourself and set PROMTOOL"; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
# `apt-get download` drops privileges to the `_apt` user where it exists; it must be able to
# write into the download directory.
chmod 0777 "${work}"

download() { (cd "${work}" && apt-get download -q prometheus >&2); }

if ! download; then
    log "apt-get download failed; refreshing package lists (apt-get update) and retrying"
    if [[ "$(id -u)" -eq 0 ]]; then
        apt-get update -q >&2
    else
        sudo apt-get update -q >&2
    fi
    download
fi

deb="$(ls "${work}"/prometheus_*.deb 2>/dev/null | head -n1 || true)"
[[ -n "${deb}" ]] || { log "no prometheus_*.deb downloaded"; exit 1; }

mkdir -p "${dest}"
dpkg-deb -x "${deb}" "${dest}"
[[ -x "${promtool}" ]] || { log "${deb} does not contain usr/bin/promtool"; exit 1; }
log "installed $("${promtool}" --version 2>&1 | head -n1) from $(basename "${deb}")"
echo "${promtool}"
