# syntax=docker/dockerfile:1
# Build stage: resolve and install into a venv; the final image gets only the venv (no pip
# cache, no sources, no build tools). Every dependency ships manylinux wheels, so no compiler.
FROM python:3.11.10-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY adapter ./adapter
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.11.10-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ADAPTER_SQL_DIR=/app/sql \
    LOG_FORMAT=json
RUN groupadd --system --gid 10001 adapter \
 && useradd --system --uid 10001 --gid adapter --home-dir /app --shell /usr/sbin/nologin adapter
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY sql ./sql
USER 10001:10001
EXPOSE 8080 9102
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/health/live', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["giftcard-adapter"]
CMD ["serve"]
