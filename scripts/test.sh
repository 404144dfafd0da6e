#!/usr/bin/env bash
# The test command of the README: installs what the tests need, runs the static checks, then
# the whole suite in parallel. Arguments go to pytest (a path, -k EXPR, -n 1 for one process).
#
# RUNNER_TEST_WORKERS: pytest-xdist workers (default 3: most tests wait on subprocesses,
# Docker and git, so a 2-core machine keeps three busy). Tests that share a module-scoped
# server or the session's plugin images run on one worker each (--dist loadgroup; see
# tests/conftest.py). Load tests (marker "alone") need the machine to themselves: they run after
# the rest, in one process. A run whose arguments leave one of the two parts no test (pytest's
# status 5) is fine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh
python3 -m pip install -q -e '.[test]'
# The plugin images' libraries, fetched once through pip (the image builds are offline).
python3 -m runner plugin wheelhouse --base-image runner-test/python >/dev/null
# The stack test's images (the server's, an S3 server's): their libraries too.
python3 -m tests.e2e.stack_images >/dev/null

# Static checks first: a finding stops the run before the tests start.
bash scripts/check.sh

pytest_part() {
    local status=0
    python3 -m pytest -q -p no:cacheprovider "$@" || status=$?
    if [ "$status" -eq 5 ]; then status=0; fi
    return "$status"
}
status=0
pytest_part -n "${RUNNER_TEST_WORKERS:-3}" --dist loadgroup -m "not alone" "$@" || status=$?
pytest_part -m alone "$@" || status=$?
exit "$status"
