#!/usr/bin/env bash
# Benchmark: load the Debian test image (OCI layout, ~58 MB gzip, ~8.7k files) into a
# fresh store, ours vs podman (each with its own temporary root), in the same run.
# Prints seconds per run for each and the ratio ours/podman.
#   usage (as the unprivileged user): scripts/bench/images/load.sh [ROUNDS]
#   as root: runuser -u rootless-test -- env HOME=... PATH=<venv>/bin:$PATH ... load.sh
set -euo pipefail
ROUNDS="${1:-3}"
LAYOUT="${ROOTLESS_TEST_IMAGES:-$HOME/.cache/rootless-test-images}/debian"
[ -f "$LAYOUT/index.json" ] || { echo "no $LAYOUT: run scripts/make-test-images.sh" >&2; exit 1; }
[ "$(id -u)" -ne 0 ] || { echo "run as the unprivileged user" >&2; exit 1; }
command -v rootless >/dev/null || { echo "rootless is not on PATH (activate the venv)" >&2; exit 1; }

work=$(mktemp -d /tmp/bench-img-XXXXXX)
pm=(podman --root "$work/pm-root" --runroot "$work/pr" --tmpdir "$work/pt")
rl=(rootless --root "$work/rl-data" --runroot "$work/rr" --config-dir "$work/rc")
cleanup() {
  "${rl[@]}" unshare rm -rf "$work/rl-data" 2>/dev/null || true
  "${pm[@]}" unshare rm -rf "$work/pm-root" 2>/dev/null || true
  for f in "$work/rr/pause.pid" "$work/pt/pause.pid"; do
    [ -f "$f" ] && kill -9 "$(cut -d' ' -f1 < "$f")" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
# Both load the same oci-archive (podman does not load an unnamed OCI dir).
skopeo copy -q "oci:$LAYOUT:bookworm" "oci-archive:$work/debian.tar:docker.io/library/debian:bookworm"
ARCHIVE="$work/debian.tar"
# Start both pause processes first: namespace setup is not what we measure.
"${rl[@]}" unshare true
"${pm[@]}" unshare true

ours=0; theirs=0
for i in $(seq "$ROUNDS"); do
  t0=$(now); "${rl[@]}" load -q -i "$ARCHIVE" >/dev/null; t1=$(now)
  "${pm[@]}" load -q -i "$ARCHIVE" >/dev/null; t2=$(now)
  a=$(echo "$t1 - $t0" | bc); b=$(echo "$t2 - $t1" | bc)
  printf 'round %d: rootless %.2fs  podman %.2fs\n' "$i" "$a" "$b"
  ours=$(echo "$ours + $a" | bc); theirs=$(echo "$theirs + $b" | bc)
  "${rl[@]}" rmi -a >/dev/null; "${rl[@]}" image prune -a >/dev/null
  "${pm[@]}" rmi -a -f >/dev/null
done
printf 'mean: rootless %.2fs  podman %.2fs  ratio rootless/podman %.2f\n' \
  "$(echo "$ours / $ROUNDS" | bc -l)" "$(echo "$theirs / $ROUNDS" | bc -l)" \
  "$(echo "$ours / $theirs" | bc -l)"
