# Dugout: gunicorn serving the Flask + Dash app; the same image runs the Celery worker
# (`dugout worker --celery`). Build: docker build -t dugout .
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DUGOUT_VAR_DIR=/var/lib/dugout PROMETHEUS_MULTIPROC_DIR=/tmp/dugout-metrics \
    DUGOUT_GUNICORN_CTL=/tmp/gunicorn.ctl
RUN useradd --system --create-home --uid 10001 dugout \
 && mkdir -p /var/lib/dugout /tmp/dugout-metrics && chown dugout /var/lib/dugout /tmp/dugout-metrics
WORKDIR /srv/dugout

# Dependencies first, in their own cached layer: they change far less often than the code.
COPY pyproject.toml README.md ./
RUN mkdir -p app pages components scheduler && touch app/__init__.py \
 && pip install . && pip uninstall -y dugout

COPY app ./app
COPY pages ./pages
COPY components ./components
COPY scheduler ./scheduler
COPY assets ./assets
COPY gunicorn.conf.py ./
RUN pip install --no-deps .

USER dugout
EXPOSE 8050 9540
# gunicorn drains on SIGTERM: requests finish, the leader steps down, runs get the grace period
# (DUGOUT_GRACEFUL_TIMEOUT) and are re-queued if they cannot finish. Give `docker stop` more.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8050/healthz', timeout=2).status == 200 else 1)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"]
