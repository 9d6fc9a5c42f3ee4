# syntax=docker/dockerfile:1.7
# Glassbox inference image.
#   docker build -t glassbox .                                   # trains the model in the build
#   docker build --build-arg MODEL_SOURCE=artifact -t glassbox . # serves ./model/ from the train workflow
# Build args: MODEL_SOURCE (train|artifact), MODEL_VERSION, VERSION, REVISION, SOURCE.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG MODEL_SOURCE=train

# --- builder: the locked dependencies and the service in a virtualenv -------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-deps .

# --- model from training in the build: deterministic, quality gate enforced -------------
FROM builder AS model-train
ARG MODEL_VERSION=dev
COPY data ./data
COPY promotion ./promotion
COPY train.py ./
RUN python train.py --data data/iris.csv --output-dir /out --model-version "${MODEL_VERSION}" --promote

# --- model from the train workflow's artifact (placed in ./model/ of the context) -------
FROM builder AS model-artifact
ARG MODEL_VERSION=dev
COPY model/ /out/imported/
# Refuse an artifact whose version differs from the label or whose scikit-learn differs
# from the image's: the service would refuse it at startup anyway.
RUN python -c "import json, os, sklearn; \
m = json.load(open('/out/imported/metadata.json')); \
assert m['model_version'] == os.environ['MODEL_VERSION'], ('model_version', m['model_version']); \
assert m['versions']['sklearn'] == sklearn.__version__, ('sklearn', m['versions']['sklearn'], sklearn.__version__)" \
 && ln -s imported /out/latest

# model-train / model-artifact are stages of this file, not registry images.
# hadolint ignore=DL3006
FROM model-${MODEL_SOURCE} AS model

# --- runtime: slim, no compilers, non-root, read-only-root friendly ---------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG MODEL_VERSION=dev
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/glassbox-ml/glassbox
LABEL org.opencontainers.image.title="glassbox" \
      org.opencontainers.image.description="Observability-first scikit-learn inference service" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.glassbox.model.version="${MODEL_VERSION}"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    WEB_CONCURRENCY=1 \
    MODEL_DIR=/app/artifacts/latest

RUN groupadd --system --gid 10001 glassbox \
 && useradd --system --uid 10001 --gid glassbox --no-create-home --shell /usr/sbin/nologin glassbox
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY --from=model /out /app/artifacts

# Writable only where the chart mounts emptyDirs (/tmp, /var/run/glassbox/metrics).
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=2)"]
ENTRYPOINT ["python", "-m", "app"]
