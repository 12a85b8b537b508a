# syntax=docker/dockerfile:1.7
# t5sum API image: CPU torch, non-root, health-checked. The model is mounted at /model (run dir, model/
# folder or ONNX export), or baked in with the `baked` target:
#   docker build -t t5sum .
#   docker run -p 8000:8000 -e T5SUM_API_KEYS=<key> -v <run dir>/model:/model:ro t5sum
#   docker build --target baked --build-context model=<run dir>/onnx -t t5sum:model .
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU wheel first, from PyTorch's CPU index: the default index would pull several GB of CUDA libraries
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
WORKDIR /src
COPY pyproject.toml README.md constraints-torch.txt ./
COPY conf ./conf
COPY t5sum ./t5sum
# t5sum/conf is a symlink to ../conf in the repository: ship a real copy inside the package
RUN rm -f t5sum/conf && cp -r conf t5sum/conf \
    && pip install -c constraints-torch.txt ".[onnx,serve]" \
    && python -c "import t5sum.serve, t5sum.serving.app, onnxruntime"

FROM python:${PYTHON_VERSION}-slim AS runtime
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin t5sum
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    HF_HOME=/tmp/hf \
    T5SUM_THREADS=2
USER 10001
WORKDIR /home/t5sum
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
# keys: T5SUM_API_KEYS=<key>[,<key2>] or a mounted file with serve.api_keys_file=/run/secrets/t5sum_keys
ENTRYPOINT ["python", "-m", "t5sum.serve", "run_dir=/model", "serve.host=0.0.0.0", "serve.port=8000"]
CMD []

# opt-in: docker build --target baked --build-context model=<dir> (BuildKit skips it otherwise);
# `model` is a named build context, not a stage (hence DL3022 ignored)
FROM runtime AS baked
# hadolint ignore=DL3022
COPY --from=model --chown=t5sum:t5sum . /model

# the default target: the model comes in as a volume at /model
FROM runtime AS serve
