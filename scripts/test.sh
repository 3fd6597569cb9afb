#!/usr/bin/env bash
# The README's test command.
#   As root: prepares the host (setup-host.sh), then re-runs itself as the unprivileged
#   test user (runuser). As a user: ruff, mypy, test images, then pytest.
#   Extra arguments go to pytest (default: tests/unit tests/integration).
#   SKIP_LINT=1 skips ruff/mypy (quick local loops).
set -uo pipefail

TEST_USER="${ROOTLESS_TEST_USER:-rootless-test}"
here=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$here/.." && pwd)

if [ "$(id -u)" -eq 0 ]; then
  bash "$SRC/scripts/setup-host.sh" "$TEST_USER" || exit 1
  uid=$(id -u "$TEST_USER")
  home=$(getent passwd "$TEST_USER" | cut -d: -f6)
  run_src="$SRC"
  conf="${CONFORMANCE_DIR:-$SRC/../shared/conformance}"
  # The checkout may sit where the test user cannot read (e.g. under /root): then
  # copy it, and the conformance data, somewhere the user owns.
  if ! runuser -u "$TEST_USER" -- test -r "$SRC/pyproject.toml"; then
    run_src="$home/rootless-src"
    mkdir -p "$run_src"
    (cd "$SRC" && tar --exclude=.git -cf - .) | tar -xf - -C "$run_src"
    chown -R "$TEST_USER:" "$run_src"
  fi
  if [ -d "$conf" ] && ! runuser -u "$TEST_USER" -- test -r "$conf/README.md"; then
    mkdir -p "$home/shared"
    rm -rf "$home/shared/conformance"
    cp -r "$conf" "$home/shared/conformance"
    chown -R "$TEST_USER:" "$home/shared"
    conf="$home/shared/conformance"
  fi
  conf=$(cd "$conf" 2>/dev/null && pwd || echo "$conf")
  # Byte-compile as root: the test user cannot write __pycache__ in a root-owned
  # checkout, and recompiling on every `rootless` start would distort start-up times.
  /usr/bin/python3 -m compileall -q -j 0 "$run_src/rootless" "$run_src/netstack" \
    "$run_src/fuse_overlay" >/dev/null 2>&1 || true
  exec runuser -u "$TEST_USER" -- env -i \
    HOME="$home" USER="$TEST_USER" LOGNAME="$TEST_USER" SHELL=/bin/bash \
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    LANG=C.UTF-8 TERM="${TERM:-dumb}" CI="${CI:-}" SKIP_LINT="${SKIP_LINT:-}" \
    XDG_RUNTIME_DIR="/run/user/$uid" CONFORMANCE_DIR="$conf" \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
    bash "$run_src/scripts/test.sh" "$@"
fi

# ---- as the unprivileged user ----
echo "test.sh: running as $(id -un) (uid $(id -u)) in $SRC"
VENV="${ROOTLESS_VENV:-$HOME/.cache/rootless-venv}"
mkdir -p "$(dirname "$VENV")"
(
  flock 9
  stamp="$VENV/.rootless-stamp"
  want="$(sha256sum "$SRC/pyproject.toml" | cut -c1-16) $SRC"
  if [ ! -x "$VENV/bin/python" ]; then
    /usr/bin/python3 -m venv "$VENV" || exit 1
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "test.sh: installing the dependencies into $VENV"
    # The checkout may be read-only to us: no build in it. Dependencies from
    # pyproject.toml, the source on sys.path by a .pth file, console scripts by hand.
    "$VENV/bin/python" "$SRC/scripts/venv_install.py" "$SRC" || exit 1
    echo "$want" > "$stamp"
  fi
) 9>"$(dirname "$VENV")/.rootless-venv.lock" || { echo "test.sh: venv setup failed" >&2; exit 1; }
export PATH="$VENV/bin:$PATH"
export PYTHONDONTWRITEBYTECODE=1
cd "$SRC" || exit 1

status=0
if [ -z "${SKIP_LINT:-}" ]; then
  echo "test.sh: ruff"
  ruff check --no-cache rootless netstack fuse_overlay tests scripts || status=1
  echo "test.sh: mypy"
  mypy --cache-dir "${TMPDIR:-/tmp}/rootless-mypy-$(id -u)" rootless netstack fuse_overlay || status=1
fi

if [ -x "$SRC/scripts/make-test-images.sh" ]; then
  echo "test.sh: test images"
  "$SRC/scripts/make-test-images.sh" || { echo "test.sh: building test images failed" >&2; exit 1; }
fi
if [ -x "$SRC/scripts/walkthrough-images.sh" ] && [ $# -eq 0 ]; then
  echo "test.sh: walkthrough stand-in images (hello-world, httpd, ubuntu, postgres, python, redis)"
  "$SRC/scripts/walkthrough-images.sh" || { echo "test.sh: building walkthrough images failed" >&2; exit 1; }
fi

if [ $# -eq 0 ]; then set -- tests/unit tests/integration; fi
echo "test.sh: pytest $*"
python -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "test.sh: pytest collected no tests: that is a failure" >&2
  rc=1
fi
[ $rc -ne 0 ] && status=$rc
exit $status
