#!/usr/bin/env bash
# Builds the local base images the tests and benchmarks use, without any registry:
#   runner-test/busybox  - busybox-static, a few links (no CMD, no ENV)
#   runner-test/python   - Debian bookworm minbase with python3, git and ca-certificates
# The Debian root filesystem is cached in /var/cache/pipeline-runner between runs.
set -euo pipefail
cache=/var/cache/pipeline-runner
mkdir -p "$cache"

if ! docker image inspect runner-test/busybox >/dev/null 2>&1; then
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp /bin/busybox "$root/bin/"
  for c in sh ash echo cat ls env sleep mkdir true false printf seq wc head tail grep sed \
           awk date id touch rm cp mv test expr tr sort uniq nc wget du tee find xargs dd yes; do
    ln -s busybox "$root/bin/$c"
  done
  echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
  tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' - runner-test/busybox >/dev/null
  rm -rf "$root"
fi

if ! docker image inspect runner-test/python >/dev/null 2>&1; then
  if [ ! -f "$cache/bookworm-python.tar" ]; then
    # The Debian mirror this machine's apt uses, so the script works wherever apt works.
    mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' |
      awk '$2 == "bookworm" { print $1; exit }')
    if [ -z "$mirror" ]; then
      echo "base-images.sh: apt's sources name no bookworm mirror for debootstrap" >&2
      exit 1
    fi
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase --include=python3,git,ca-certificates,python3-yaml \
      bookworm "$rootfs" "$mirror" >/tmp/debootstrap.log 2>&1
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -c . > "$cache/bookworm-python.tar.tmp"
    mv "$cache/bookworm-python.tar.tmp" "$cache/bookworm-python.tar"
    rm -rf "$rootfs"
  fi
  docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$cache/bookworm-python.tar" runner-test/python >/dev/null
fi
echo "base images ready: runner-test/busybox runner-test/python"
