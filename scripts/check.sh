#!/usr/bin/env bash
# The static checks CI runs before the tests (scripts/test.sh); any finding stops the run.
#   ruff: lint and formatting of the whole tree;
#   mypy --strict: the packages the rest is built on (pipeline, engine, store, services);
#   mypy: everything else of the server, the agent, the CLI and the pages; the plugins strictly.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m ruff check .
python3 -m ruff format --check .
python3 -m mypy --strict runner/pipeline runner/engine runner/store runner/services
python3 -m mypy runner webui
MYPYPATH=plugins/_lib:plugins/deploy:plugins/docker:plugins/oss:plugins/notify:plugins/sonar \
  python3 -m mypy --strict --explicit-package-bases plugins/_lib/plugin_kit plugins/*/*.py
echo "static checks: clean"
