# syntax=docker/dockerfile:1
# The inquiry service: `docker build -t inquiry .` then see deploy/README.md.
ARG PYTHON_IMAGE=python:3.11-slim

# Install the locked dependencies, then the project, into a venv that the runtime stage
# copies whole. The venv lives at the same path in both stages because its scripts carry
# that path in their shebangs. Every package comes from requirements.lock with its hash
# checked (.ci/lock writes it), so two builds of one commit install the same files.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml ./
COPY inquiry/ ./inquiry/
# Non-editable: the package (migrations included, as package data) lands in site-packages.
# Its build backend is the locked setuptools already in the venv: nothing is fetched here.
RUN /opt/venv/bin/pip install --no-cache-dir --no-index --no-deps --no-build-isolation .

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    INQUIRY_HOST=0.0.0.0 \
    INQUIRY_PORT=8000 \
    INQUIRY_TEMPLATES_DIR=/app/templates
RUN groupadd --system --gid 10001 inquiry \
    && useradd --system --uid 10001 --gid inquiry --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin inquiry
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
# Code and templates stay root-owned and read-only to the service; only var/ is writable.
COPY templates/ /app/templates/
# The SQLite default writes ./var/inquiry.db and ./var/mail relative to /app.
RUN mkdir -p /app/var/mail && chown -R inquiry:inquiry /app/var
VOLUME ["/app/var"]
USER 10001:10001
EXPOSE 8000
# slim has no curl: ask the liveness probe with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('INQUIRY_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]
CMD ["inquiry", "serve"]
