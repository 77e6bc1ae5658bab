#!/usr/bin/env bash
# Install Debian's chromium + chromium-driver (the status-page browser test drives them over
# WebDriver). Idempotent: does nothing when both are on PATH. Prints the chromedriver path.
# Used by `make tools`; tests/e2e/test_status_page_browser.py looks for them on PATH (or in
# $CHROMEDRIVER / $CHROMIUM).
set -euo pipefail

log() { echo "install-chromium: $*" >&2; }

if command -v chromedriver >/dev/null && command -v chromium >/dev/null; then
    command -v chromedriver
    exit 0
fi
command -v apt-get >/dev/null || { log "apt-get not found: install chromium + chromedriver and set CHROMEDRIVER"; exit 1; }

as_root() { if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
if ! as_root apt-get install -y -q --no-install-recommends chromium chromium-driver >&2; then
    log "apt-get install failed; refreshing package lists (apt-get update) and retrying"
    as_root apt-get update -q >&2
    as_root apt-get install -y -q --no-install-recommends chromium chromium-driver >&2
fi
log "installed $(chromium --version 2>/dev/null | head -n1)"
command -v chromedriver
