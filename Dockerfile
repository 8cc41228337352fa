# Dugout: gunicorn serving the Flask + Dash app; the same image runs the Celery worker
# (`dugout worker --celery`). Build: docker build -t dugout .
#
# The base image is pinned by digest (the tag is for people): a rebuild gets the same system.
# To move to a newer patch release, read the new digest off the registry and replace both, e.g.
#   docker buildx imagetools inspect python:3.11-slim-bookworm --format '{{json .Manifest.Digest}}'
# (or `docker pull python:3.11-slim-bookworm && docker inspect --format '{{index .RepoDigests 0}}'`).
ARG BASE=python:3.11.15-slim-bookworm@sha256:b18992999dbe963a45a8a4da40ac2b1975be1a776d939d098c647482bcad5cba

# --- build: the project's wheel, made with the locked setuptools ---------------------------
FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.txt ./
RUN pip install --require-hashes -r requirements.txt
COPY pyproject.toml README.md ./
COPY app ./app
COPY pages ./pages
COPY components ./components
COPY scheduler ./scheduler
COPY assets ./assets
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# --- runtime: the locked dependencies, then the wheel; no source tree ------------------------
FROM ${BASE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DUGOUT_VAR_DIR=/var/lib/dugout PROMETHEUS_MULTIPROC_DIR=/tmp/dugout-metrics \
    DUGOUT_GUNICORN_CTL=/tmp/gunicorn.ctl
# A numeric user and group, so a runtime that checks runAsNonRoot can verify it without /etc/passwd.
RUN groupadd --system --gid 10001 dugout \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/dugout --shell /usr/sbin/nologin dugout \
 && mkdir -p /var/lib/dugout /tmp/dugout-metrics \
 && chown 10001:10001 /var/lib/dugout /tmp/dugout-metrics && chmod 0750 /var/lib/dugout

# Dependencies first, in their own cached layer: they change far less often than the code.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --require-hashes -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY --from=build /wheels /wheels
RUN pip install --no-deps /wheels/*.whl && rm -rf /wheels
COPY gunicorn.conf.py /etc/dugout/gunicorn.conf.py

# Served from site-packages (pages, assets, migrations ship in the wheel), not from a checkout.
WORKDIR /var/lib/dugout
USER 10001:10001
EXPOSE 8050 9540
# gunicorn drains on SIGTERM: requests finish, the leader steps down, runs get the grace period
# (DUGOUT_GRACEFUL_TIMEOUT) and are re-queued if they cannot finish. Give `docker stop` more.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8050/healthz', timeout=2).status == 200 else 1)"
CMD ["gunicorn", "-c", "/etc/dugout/gunicorn.conf.py", "app:create_app()"]
