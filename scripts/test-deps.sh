#!/usr/bin/env bash
# Installs and starts what the test suite needs on a fresh Debian 12 machine (as root):
# the Docker engine, the local base images, a registry binary, PostgreSQL, Chromium.
# Idempotent: a second run only starts what is not running.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

need_apt=()
command -v dockerd >/dev/null || need_apt+=(docker.io)
[ -x /bin/busybox ] || need_apt+=(busybox-static)
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v htpasswd >/dev/null || need_apt+=(apache2-utils)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v git >/dev/null || need_apt+=(git)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}"
fi

if ! docker info >/dev/null 2>&1; then
  # In its own session: a `timeout` around this script must not take the engine down with it.
  setsid dockerd > /tmp/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null
fi

bash "$here/scripts/base-images.sh"
