#!/usr/bin/env bash
# Prepare a Debian 12 / Ubuntu 22.04+ host for rootless and its tests. Run as root.
# Idempotent: a second run changes nothing and says so.
#   scripts/setup-host.sh [USER]     (default USER: rootless-test)
set -euo pipefail

USER_NAME="${1:-rootless-test}"
SUBID_COUNT=65536
changed=()
say() { echo "setup-host: $*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host: must run as root (it installs packages and creates $USER_NAME)" >&2
  exit 1
fi

# Packages the engine and its tests need. podman/crun/runc/skopeo are peers for
# interop tests and benchmarks; qemu + a kernel boot the cgroup v2 VM.
PACKAGES=(
  uidmap slirp4netns fuse3 libfuse3-3 fuse-overlayfs busybox-static iproute2 iptables
  nftables docker-registry skopeo mmdebstrap runc crun podman catatonit tini iperf3
  python3 python3-venv python3-dev gcc libc6-dev libseccomp2 curl socat procps kmod
  apache2-utils openssl ca-certificates util-linux e2fsprogs cpio
  qemu-system-x86 linux-image-amd64
  golang-github-containers-common containernetworking-plugins
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  changed+=("installed ${#missing[@]} packages")
fi
# Debian's docker-registry package starts a service on :5000; tests run their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi

# Device nodes: distributions make these 0666; these VMs leave them 0600.
for dev in /dev/fuse /dev/net/tun; do
  if [ -e "$dev" ] && [ "$(stat -c %a "$dev")" != "666" ]; then
    chmod 0666 "$dev"
    changed+=("chmod 0666 $dev")
  fi
done
if [ ! -e /dev/net/tun ]; then
  mkdir -p /dev/net && mknod -m 0666 /dev/net/tun c 10 200 && changed+=("created /dev/net/tun")
fi

# The test user.
if ! id -u "$USER_NAME" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$USER_NAME"
  changed+=("created user $USER_NAME")
fi
uid=$(id -u "$USER_NAME")

# Subordinate ids: one non-overlapping range of 65536 per file.
next_free() {  # first start >= 100000 not overlapping any range in $1
  awk -F: -v want="$SUBID_COUNT" '
    NF==3 { s[NR]=$2; e[NR]=$2+$3 }
    END { start=100000
      do { moved=0; for (i in s) if (start < e[i] && start+want > s[i]) { start=e[i]; moved=1 } } while (moved)
      print start }' "$1"
}
for f in /etc/subuid /etc/subgid; do
  touch "$f"
  if ! grep -qE "^(${USER_NAME}|${uid}):" "$f"; then
    start=$(next_free "$f")
    echo "${USER_NAME}:${start}:${SUBID_COUNT}" >> "$f"
    changed+=("$f: ${USER_NAME}:${start}:${SUBID_COUNT}")
  fi
done

# No logind here: give the user a runtime dir like /run/user/UID.
rundir="/run/user/$uid"
if [ ! -d "$rundir" ]; then
  install -d -m 0700 -o "$USER_NAME" -g "$(id -g "$USER_NAME")" "$rundir"
  changed+=("created $rundir")
fi

# Unprivileged user namespaces (Debian < 11 and some kernels gate them).
if [ -f /proc/sys/kernel/unprivileged_userns_clone ] && [ "$(cat /proc/sys/kernel/unprivileged_userns_clone)" = 0 ]; then
  sysctl -qw kernel.unprivileged_userns_clone=1 && changed+=("enabled unprivileged_userns_clone")
fi
if [ -f /proc/sys/kernel/apparmor_restrict_unprivileged_userns ] && [ "$(cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns)" = 1 ]; then
  sysctl -qw kernel.apparmor_restrict_unprivileged_userns=0 && changed+=("lifted AppArmor userns restriction")
fi

if [ ${#changed[@]} -eq 0 ]; then
  say "nothing to change; host ready for $USER_NAME (uid $uid)"
else
  for c in "${changed[@]}"; do say "changed: $c"; done
fi
