# The server image: `runner server` with SQLite in /data and the embedded agent, which drives the
# host's Docker engine through the mounted socket:
#   docker build -t pipeline-runner .
#   docker run -d -p 8080:8080 -v runner-data:/data -v /var/run/docker.sock:/var/run/docker.sock pipeline-runner
# The same image runs a remote agent: `docker run ... pipeline-runner agent --server URL --token T`.
# On a machine whose builds reach no package index, `runner server image` builds this file with
# the libraries from a wheelhouse pip fetches on the host (wheels/ in its build context).
# Several servers on PostgreSQL with logs in object storage: docs/scaling.md.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS base
# git for the repositories' mirrors and the agent's clones; a base image that has it and the CA
# certificates already installs nothing here.
RUN if ! command -v git >/dev/null || [ ! -f /etc/ssl/certs/ca-certificates.crt ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends git ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi

FROM base AS build
# The libraries first (a layer kept until setup.cfg changes), into a virtual environment: the
# install requirements and the `s3` extra (logs in object storage) named by setup.cfg. With a
# wheelhouse under wheels/ (`runner server image` puts one there) pip installs from it alone and
# needs no network; without it, from its index. setup.cfg gives the COPY a file either way.
COPY setup.cfg wheel[s] /wheels/
RUN python3 -c 'import configparser; c = configparser.ConfigParser(); c.read("/wheels/setup.cfg"); \
print(c["options"]["install_requires"]); print(c["options.extras_require"].get("s3", ""))' \
      > /tmp/requirements.txt \
 && set -- /wheels/pip-*.whl \
 && if [ -e "$1" ]; then \
      python3 -m venv --without-pip /opt/runner \
      && /opt/runner/bin/python "$1/pip" install --no-index --find-links /wheels --no-cache-dir \
           --disable-pip-version-check --quiet -r /tmp/requirements.txt pip; \
    else \
      python3 -m venv /opt/runner \
      && /opt/runner/bin/pip install --no-cache-dir --disable-pip-version-check --quiet \
           -r /tmp/requirements.txt; \
    fi
COPY setup.cfg pyproject.toml README.md /src/
COPY runner /src/runner
COPY webui /src/webui
RUN set -- /wheels/pip-*.whl \
 && if [ -e "$1" ]; then set -- --no-index --find-links /wheels; else set --; fi \
 && /opt/runner/bin/pip install --no-cache-dir --disable-pip-version-check --quiet "$@" \
      --no-deps /src

FROM base
COPY --from=build /opt/runner /opt/runner
ENV PATH=/opt/runner/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RUNNER_DATA_DIR=/data \
    RUNNER_HOST=0.0.0.0 \
    RUNNER_PORT=8080
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["runner"]
CMD ["server"]
