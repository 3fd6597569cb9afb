#!/usr/bin/env bash
# Fresh machine to a running container: host setup (as root), then install and run as USER.
#   sudo scripts/quickstart.sh [USER]     (default USER: rootless-test)
set -euo pipefail
USER_NAME="${1:-${SUDO_USER:-rootless-test}}"
[ "$USER_NAME" = root ] && USER_NAME=rootless-test
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "quickstart.sh: run as root (sudo): it installs packages and prepares $USER_NAME" >&2
  exit 1
fi
bash "$here/setup-host.sh" "$USER_NAME"
uid=$(id -u "$USER_NAME")
home=$(getent passwd "$USER_NAME" | cut -d: -f6)
run_src="$src"
if ! runuser -u "$USER_NAME" -- test -r "$src/pyproject.toml"; then
  run_src="$home/rootless-src"
  mkdir -p "$run_src"
  (cd "$src" && tar --exclude=.git -cf - .) | tar -xf - -C "$run_src"
  chown -R "$USER_NAME:" "$run_src"
fi
runuser -u "$USER_NAME" -- env -i HOME="$home" USER="$USER_NAME" \
  PATH="$home/.local/bin:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 \
  XDG_RUNTIME_DIR="/run/user/$uid" bash -c "
    set -e
    bash '$run_src/scripts/install.sh'
    rootless info | tail -n 8
    # An image built offline from Debian's busybox-static (no registry needed), then a
    # real container from it.
    img=\$(mktemp -d)
    python3 '$run_src/scripts/testimages/build.py' busybox \$img/busybox
    rootless load -q -i \$img/busybox
    rm -rf \$img
    rootless run --rm busybox echo hello from a rootless container
  "
