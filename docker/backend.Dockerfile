# The ML backend, training worker, retraining scheduler and upload command: one image.
#
#   docker build -f docker/backend.Dockerfile -t spine-backend:local .
#   docker build -f docker/backend.Dockerfile --build-arg TORCH_VARIANT=cu128 -t spine-backend:gpu .
#
# TORCH_VARIANT names a wheel index of download.pytorch.org/whl: "cpu" (the default, small) or a
# CUDA build such as "cu126" or "cu128" for the GPU variant (the CUDA runtime comes in the wheels;
# the host needs only the NVIDIA driver and the container toolkit).

FROM python:3.11.13-slim-bookworm

ARG TORCH_VERSION=2.13.0
ARG TORCH_VARIANT=cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 spine \
    && useradd --system --uid 10001 --gid spine --create-home --home-dir /home/spine spine

WORKDIR /app

# Torch first, from the variant's index, so that the project's requirements find it installed.
RUN pip install --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
    "torch==${TORCH_VERSION}"

# The dependencies alone, read from pyproject.toml: this layer is rebuilt only when they change.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; \
print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
    > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY annotation_backend ./annotation_backend
COPY label_config ./label_config
COPY local_stack ./local_stack
COPY training ./training
COPY upload ./upload
COPY docker/healthcheck.py docker/retrain-loop.sh ./docker/
RUN pip install --no-deps --editable . \
    && mkdir -p /var/lib/spine/models /var/lib/spine/state \
    && chown -R spine:spine /var/lib/spine

USER spine
EXPOSE 9090
CMD ["python", "-m", "annotation_backend", "--host", "0.0.0.0", "--port", "9090"]
