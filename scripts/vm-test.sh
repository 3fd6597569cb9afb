#!/usr/bin/env bash
# Run a command (default: pytest tests/vm) as the test user inside a small qemu VM
# whose cgroup v2 tree delegates a subtree to that user. Run as the unprivileged user.
#   scripts/vm-test.sh [--timeout S] [CMD...]
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/vm/run_vm.py" "$@"
