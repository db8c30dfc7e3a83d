# kefu: slim Python base, non-root user, data in a volume, health check on the config's port.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY handlers ./handlers
COPY console ./console
COPY config ./config
RUN pip install '.[embedding]' && useradd --create-home --uid 10001 kefu && mkdir -p /data && chown kefu /data

USER kefu
WORKDIR /data
# kefu.db (storage: sqlite:///kefu.db, relative to here) must outlive the container: mount a named
# volume here. Declared after the chown above, since what a later RUN does to a volume is thrown away.
VOLUME ["/data"]
EXPOSE 8080
# listen on every interface inside the container; mount your kefu.yaml at /data/kefu.yaml
ENV KEFU_HOST=0.0.0.0
# asks /healthz on 127.0.0.1 at the port the config file sets (server.port), whatever it is
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["kefu", "health", "--config", "/data/kefu.yaml"]
CMD ["kefu", "run", "--config", "/data/kefu.yaml"]
