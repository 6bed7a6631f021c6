# SIGMAX: the engine, its REST API, dashboard and /metrics in one image.
# Build: docker build -t sigmax .   (deploy/docker-compose.yml builds it for the full system)
FROM python:3.11-slim-bookworm

# pg_dump / pg_restore for 'sigmax backup' and 'sigmax restore' against PostgreSQL 15.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY config ./config
RUN pip install --no-cache-dir ".[postgres]"

# The account's home: logs/, backups/ and the configuration in force.
ENV SIGMAX_HOME=/srv/sigmax
RUN useradd --system --home-dir /srv/sigmax --create-home sigmax \
    && cp -r /app/config /srv/sigmax/config \
    && chown -R sigmax /srv/sigmax
USER sigmax
WORKDIR /srv/sigmax
EXPOSE 8000

# Degraded (exit 1: paused, no run) is still a working container; only unhealthy (2) is not.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD sigmax health --api-url http://127.0.0.1:8000 > /dev/null; test $? -lt 2

CMD ["sigmax", "run", "--mode", "paper", "--profile", "conservative", "--host", "0.0.0.0"]
