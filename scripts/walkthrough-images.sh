#!/usr/bin/env bash
# Build the walkthrough's offline stand-ins for Docker Hub images as OCI layouts under
# ${ROOTLESS_TEST_IMAGES:-~/.cache/rootless-test-images}/walkthrough/<name>:
#   hello-world  busybox-static + /hello printing "Hello from rootless!"
#   ubuntu       Debian bookworm minbase (bash, apt with working sources), CMD bash
#   httpd        apache2 in the foreground on port 80 (httpd-foreground)
#   postgres     postgresql + an entrypoint honouring POSTGRES_PASSWORD/POSTGRES_DB
#   python       python3, pip, venv, and Debian's flask, flask-restful, redis modules
#   redis        redis-server --protected-mode no on 6379
# Run as the unprivileged user (mmdebstrap --mode=unshare). One mmdebstrap per image with
# a shared .deb cache. An image is rebuilt only when its recipe (packages, hooks, helper
# files, layout.py, build.py, RECIPE) changed. Per-image locks: asking for a built image
# never waits for another image's build.
# Usage: walkthrough-images.sh [NAME...]   (default: all)
set -euo pipefail

RECIPE=1 # bump when the mmdebstrap arguments below change
here=$(cd "$(dirname "$0")" && pwd)
helpers="$here/walkthrough"
OUT="${ROOTLESS_TEST_IMAGES:-$HOME/.cache/rootless-test-images}/walkthrough"
PY="${PYTHON:-python3}"
mkdir -p "$OUT/.apt-cache"

packages() { # NAME -> comma-separated --include list
  case "$1" in
    ubuntu) echo "bash" ;;
    httpd) echo "apache2" ;;
    postgres) echo "postgresql" ;;
    python) echo "python3,python3-pip,python3-venv,python-is-python3,python3-flask,python3-flask-restful,python3-redis" ;;
    redis) echo "redis-server" ;;
    hello-world) echo "" ;;
    *) echo "walkthrough-images: unknown image $1" >&2; return 1 ;;
  esac
}

own_files() { # NAME -> the helper files baked into that image
  case "$1" in
    hello-world) echo "$helpers/hello" ;;
    httpd) echo "$helpers/httpd-foreground" ;;
    postgres) echo "$helpers/postgres-entrypoint" ;;
  esac
}

hooks() { # NAME -> extra mmdebstrap customize hooks, one per line
  case "$1" in
    httpd)
      echo "upload $helpers/httpd-foreground /usr/local/bin/httpd-foreground"
      echo 'chmod 755 "$1/usr/local/bin/httpd-foreground"'
      echo 'echo "<html><body><h1>It works!</h1></body></html>" > "$1/var/www/html/index.html"'
      echo 'echo "ServerName localhost" > "$1/etc/apache2/conf-enabled/servername.conf"'
      echo 'ln -sf /dev/stdout "$1/var/log/apache2/access.log"'
      echo 'ln -sf /dev/stderr "$1/var/log/apache2/error.log"'
      ;;
    postgres)
      echo "upload $helpers/postgres-entrypoint /usr/local/bin/docker-entrypoint.sh"
      echo 'chmod 755 "$1/usr/local/bin/docker-entrypoint.sh"'
      ;;
    python) # pip installs like the official image's (no PEP 668 marker)
      echo 'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED'
      ;;
  esac
}

stamp_of() { # NAME -> recipe hash
  {
    echo "$RECIPE $1"
    packages "$1"
    hooks "$1" | sed "s|$helpers|HELPERS|g" # their content, not where this checkout is
    # shellcheck disable=SC2046
    cat "$helpers/layout.py" "$here/testimages/build.py" $(own_files "$1")
  } | sha256sum | cut -c1-16
}

fresh() { # NAME: up to date?
  [ -f "$OUT/$1/index.json" ] && [ "$(cat "$OUT/$1/.stamp" 2>/dev/null)" = "$(stamp_of "$1")" ]
}

build_debian() { # NAME
  local name=$1 tmp
  tmp=$(mktemp -d "$OUT/.build-$name-XXXXXX")
  local -a args=(--quiet --mode=unshare --variant=minbase --format=tar
    --include="$(packages "$name")"
    --skip=download/empty --skip=essential/unlink
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives/'
    --setup-hook="sync-in $OUT/.apt-cache /var/cache/apt/archives/"
    --customize-hook="sync-out /var/cache/apt/archives $OUT/.apt-cache"
    --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb')
  local h
  while IFS= read -r h; do
    [ -n "$h" ] && args+=(--customize-hook="$h")
  done < <(hooks "$name")
  (
    flock 8 # one mmdebstrap at a time: they share the .deb cache
    SOURCE_DATE_EPOCH=1700000000 mmdebstrap "${args[@]}" bookworm "$tmp/rootfs.tar"
  ) 8>"$OUT/.lock-apt-cache"
  "$PY" "$helpers/layout.py" "$name" "$OUT/$name" "$tmp/rootfs.tar"
  rm -rf "$tmp"
}

[ $# -gt 0 ] || set -- hello-world ubuntu httpd postgres python redis
for name in "$@"; do
  packages "$name" >/dev/null
  fresh "$name" && continue
  (
    flock 9
    fresh "$name" && exit 0 # built by someone else while we waited
    rm -rf "$OUT/.build-$name-"* # debris of a build that was killed (we hold the lock)
    start=$(date +%s)
    echo "walkthrough-images: building $name"
    if [ "$name" = hello-world ]; then
      "$PY" "$helpers/layout.py" hello-world "$OUT/hello-world"
    else
      build_debian "$name"
    fi
    stamp_of "$name" > "$OUT/$name/.stamp"
    echo "walkthrough-images: $name built in $(($(date +%s) - start)) s"
  ) 9>"$OUT/.lock-$name"
done
