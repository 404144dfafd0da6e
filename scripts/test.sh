#!/usr/bin/env bash
# The test command of the README: installs what the tests need, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh
python3 -m pip install -q -e '.[test]'
# The plugin images' libraries, fetched once through pip (the image builds are offline).
python3 -m runner plugin wheelhouse --base-image runner-test/python >/dev/null
exec python3 -m pytest -q -p no:cacheprovider "$@"
