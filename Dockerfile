# kefu: slim Python base, non-root user, health check on /healthz.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY handlers ./handlers
COPY config ./config
RUN pip install . && useradd --create-home --uid 10001 kefu && mkdir -p /data && chown kefu /data

USER kefu
WORKDIR /data
EXPOSE 8080
# listen on every interface inside the container; mount your kefu.yaml at /data/kefu.yaml
ENV KEFU_HOST=0.0.0.0
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"KEFU_PORT\", \"8080\")}/healthz', timeout=2)" || exit 1
CMD ["kefu", "run", "--config", "/data/kefu.yaml"]
