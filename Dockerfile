# The server image: `runner server` with SQLite in /data and the embedded agent, which drives the
# host's Docker engine through the mounted socket:
#   docker build -t pipeline-runner .
#   docker run -d -p 8080:8080 -v runner-data:/data -v /var/run/docker.sock:/var/run/docker.sock pipeline-runner
# The same image runs a remote agent: `docker run ... pipeline-runner agent --server URL --token T`.
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY setup.cfg pyproject.toml README.md ./
COPY runner ./runner
COPY webui ./webui
RUN pip install --no-cache-dir . && rm -rf /src

ENV RUNNER_DATA_DIR=/data \
    RUNNER_HOST=0.0.0.0 \
    RUNNER_PORT=8080
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["runner"]
CMD ["server"]
