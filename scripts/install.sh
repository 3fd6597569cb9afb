#!/usr/bin/env bash
# Install rootless for the current (non-root) user: a private venv and ~/.local/bin links.
#   scripts/install.sh            (run as yourself, after `sudo scripts/setup-host.sh $USER`)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
venv="${ROOTLESS_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/rootless/venv}"
bindir="$HOME/.local/bin"
if [ "$(id -u)" -eq 0 ]; then
  echo "install.sh: run this as the user who will use rootless, not as root" >&2
  exit 1
fi
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
# Build from a private copy: pip builds in-tree, and the checkout may not be ours.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$src" && tar --exclude=.git --exclude=build --exclude='*.egg-info' -cf - .) | tar -xf - -C "$tmp"
"$venv/bin/pip" install -q --upgrade "$tmp"
mkdir -p "$bindir"
for exe in rootless rootless-runtime fuse-overlay; do
  ln -sf "$venv/bin/$exe" "$bindir/$exe"
done
echo "install.sh: installed rootless into $venv; commands linked in $bindir"
case ":$PATH:" in *":$bindir:"*) ;; *) echo "install.sh: add $bindir to your PATH";; esac
