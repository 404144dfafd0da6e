#!/usr/bin/env bash
# Builds the local base images the tests and benchmarks use, without any registry:
#   PREFIX/busybox  - busybox-static, a few links (no CMD, no ENV)
#   PREFIX/python   - Debian bookworm minbase with python3, git and ca-certificates
#   PREFIX/postgres - Debian bookworm minbase with PostgreSQL 15, started as the official
#                     postgres image is (its variables; scripts/postgres-entrypoint.sh)
# Usage: base-images.sh [PREFIX]   (PREFIX defaults to runner-test)
#        base-images.sh --mirror  (print the Debian archive it would use, and exit)
# Debian packages come from the Debian archive this machine's apt already uses (its sources in
# /etc/apt/sources.list and /etc/apt/sources.list.d/*.list|*.sources), so the script works
# wherever apt works. The root filesystem is cached between runs in BASE_IMAGES_CACHE
# (default /var/cache/pipeline-runner).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:-runner-test}
apt_etc=${APT_ETC:-/etc/apt}  # tests point it at sample sources
suite=bookworm
cache=${BASE_IMAGES_CACHE:-/var/cache/pipeline-runner}
mkdir -p "$cache"

# The URI of the first enabled `deb` source of this machine serving a plain Debian release
# (a suite without `-security`, `-updates`, ...), the one serving $suite first.
apt_mirror() {
  local files=()
  [ -f "$apt_etc/sources.list" ] && files+=("$apt_etc/sources.list")
  shopt -s nullglob
  files+=("$apt_etc"/sources.list.d/*.list "$apt_etc"/sources.list.d/*.sources)
  shopt -u nullglob
  [ ${#files[@]} -gt 0 ] || return 1
  awk -v want="$suite" '
    function keep(uri, suites,   n, i, s) {
      n = split(suites, s, " ")
      for (i = 1; i <= n; i++) {
        if (s[i] == want) { if (best == "") best = uri }
        else if (s[i] !~ /-/ && s[i] !~ /\// && plain == "") plain = uri
      }
    }
    function stanza() {
      if (types ~ /(^| )deb( |$)/ && enabled !~ /^(no|false)$/ && uris != "") {
        split(uris, u, " "); keep(u[1], suites)
      }
      types = ""; uris = ""; suites = ""; enabled = ""
    }
    FNR == 1 { stanza() }
    FILENAME ~ /\.sources$/ {
      if ($0 ~ /^[ \t]*$/) { stanza(); next }
      if ($0 ~ /^#/) next
      key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
      if (key == "types") types = $0
      else if (key == "uris") uris = $0
      else if (key == "suites") suites = $0
      else if (key == "enabled") enabled = tolower($0)
      next
    }
    $1 == "deb" {
      i = 2
      if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      keep($i, $(i + 1))
    }
    END { stanza(); if (best != "") print best; else if (plain != "") print plain }
  ' "${files[@]}"
}

if [ "$prefix" = "--mirror" ]; then
  found=$(apt_mirror || true)
  [ -n "$found" ] || { echo "no Debian archive among the apt sources of $apt_etc" >&2; exit 1; }
  echo "$found"
  exit
fi

if ! docker image inspect "$prefix/busybox" >/dev/null 2>&1; then
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp /bin/busybox "$root/bin/"
  for c in sh ash echo cat ls env sleep mkdir true false printf seq wc head tail grep sed \
           awk date id touch rm cp mv test expr tr sort uniq nc wget du tee find xargs dd yes; do
    ln -s busybox "$root/bin/$c"
  done
  echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
  tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' - "$prefix/busybox" >/dev/null
  rm -rf "$root"
fi

# debootstrap_tar NAME PACKAGES [CLEANUP]: $cache/$suite-NAME.tar, a bookworm minbase root
# filesystem with PACKAGES (comma-separated), made once; CLEANUP runs in it before it is packed.
debootstrap_tar() {
  local name=$1 packages=$2 cleanup=${3:-}
  [ -f "$cache/$suite-$name.tar" ] && return
  local mirror rootfs
  mirror=$(apt_mirror || true)
  if [ -z "$mirror" ]; then
    echo "no Debian archive among this machine's apt sources (/etc/apt/sources.list," \
      "/etc/apt/sources.list.d): add one, as apt needs it too" >&2
    exit 1
  fi
  rootfs=$(mktemp -d)
  echo "debootstrap $suite with $packages from $mirror (this machine's apt source)"
  if ! debootstrap --variant=minbase --include="$packages" \
    "$suite" "$rootfs" "$mirror" >"/tmp/debootstrap-$name.log" 2>&1; then
    echo "debootstrap failed; see /tmp/debootstrap-$name.log" >&2
    rm -rf "$rootfs"
    exit 1
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb
  if [ -n "$cleanup" ]; then (cd "$rootfs" && eval "$cleanup"); fi
  tar -C "$rootfs" -c . > "$cache/$suite-$name.tar.tmp"
  mv "$cache/$suite-$name.tar.tmp" "$cache/$suite-$name.tar"
  rm -rf "$rootfs"
}

path_env='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

if ! docker image inspect "$prefix/python" >/dev/null 2>&1; then
  debootstrap_tar python python3,git,ca-certificates,python3-yaml
  docker import -c "$path_env" "$cache/$suite-python.tar" "$prefix/python" >/dev/null
fi

# The entry point is added on top of the cached root filesystem; an image made with another
# version of it (its digest is the image's label) is made again.
entrypoint="$here/postgres-entrypoint.sh"
entrypoint_sum=$(sha256sum "$entrypoint" | cut -c1-16)
label=org.pipeline-runner.entrypoint
made=$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$prefix/postgres" \
  2>/dev/null || true)
if [ "$made" != "$entrypoint_sum" ]; then
  # Without the cluster Debian's package makes: the entry point makes one in PGDATA.
  debootstrap_tar postgres postgresql-15 \
    'rm -rf var/lib/postgresql/15/main etc/postgresql/15/main'
  docker import -c "$path_env" "$cache/$suite-postgres.tar" "$prefix/postgres-rootfs" >/dev/null
  context=$(mktemp -d)
  cp "$entrypoint" "$context/docker-entrypoint.sh"
  cat > "$context/Dockerfile" <<DOCKERFILE
FROM $prefix/postgres-rootfs
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL $label=$entrypoint_sum
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
DOCKERFILE
  if ! docker build -q --network none -t "$prefix/postgres" "$context" >/dev/null \
    2>"$context/build.log"; then
    cat "$context/build.log" >&2
    exit 1
  fi
  docker rmi "$prefix/postgres-rootfs" >/dev/null
  rm -rf "$context"
fi
echo "base images ready: $prefix/busybox $prefix/python $prefix/postgres"
