#!/usr/bin/env bash
# Build the offline test images as OCI layouts under $ROOTLESS_TEST_IMAGES
# (default ~/.cache/rootless-test-images): busybox (from busybox-static) and
# debian:bookworm (mmdebstrap minbase, needs only the Debian mirror).
# Run as the unprivileged user. Cached: an image is rebuilt only when this script or
# its helper changed, or the output is missing. Safe to run concurrently (flock).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
OUT="${ROOTLESS_TEST_IMAGES:-$HOME/.cache/rootless-test-images}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

stamp=$(cat "$0" "$here/testimages/build.py" | sha256sum | cut -c1-16)
rm -rf "$OUT"/.debian-* # debris of a build that was killed (we hold the lock)

fresh() { # NAME: up to date?
  [ -f "$OUT/$1/index.json" ] && [ "$(cat "$OUT/$1/.stamp" 2>/dev/null)" = "$stamp" ]
}

if ! fresh busybox; then
  echo "make-test-images: building busybox"
  "$PY" "$here/testimages/build.py" busybox "$OUT/busybox"
  echo "$stamp" > "$OUT/busybox/.stamp"
fi

if ! fresh debian; then
  echo "make-test-images: building debian:bookworm (mmdebstrap, takes a minute)"
  tmp=$(mktemp -d "$OUT/.debian-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  SOURCE_DATE_EPOCH=1700000000 mmdebstrap --quiet --mode=unshare --variant=minbase \
    --format=tar bookworm "$tmp/rootfs.tar"
  "$PY" "$here/testimages/build.py" debian "$OUT/debian" "$tmp/rootfs.tar"
  echo "$stamp" > "$OUT/debian/.stamp"
fi
