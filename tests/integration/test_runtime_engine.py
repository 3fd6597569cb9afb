"""rootless-runtime as the engine's runtime: the default, called in the monitor's own
process, leaving state the runtime's command line (and runc's habits) understand; exec
failures at `create` for both runtimes; the seccomp BPF cache inside real containers."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator

import pytest

from rootless.runtime.bpfcache import MAGIC
from tests.conftest import Env, need
from tests.integration.test_containers_support import assert_no_debris, force_cleanup


@pytest.fixture
def eng(rl: Env, busybox_image: str) -> Iterator[Env]:
    yield rl
    force_cleanup(rl)


def runtime_cli(eng: Env, *args: str) -> tuple[int, str, str]:
    """`rootless-runtime --root <the engine's> ARGS` inside the engine's user namespace."""
    r = eng.run(
        "unshare", sys.executable, "-m", "rootless.runtime", "--root", str(eng.runroot / "oci"),
        *args,
    )  # fmt: skip
    return r.rc, r.out, r.err


@pytest.mark.parametrize("runtime", ["rootless", "runc"])
def test_exec_failures_surface_at_create_as_126_and_127(eng: Env, runtime: str) -> None:
    need(shutil.which("runc"), "runc", "apt-get install runc")
    cases = {
        "no-such-command": 127,  # not in the container's PATH
        "/no/such/file": 127,
        "/etc/passwd": 126,  # exists, not executable
        "/etc": 126,  # a directory
    }
    for cmd, want in cases.items():
        r = eng.run("run", "--rm", "--runtime", runtime, "--network", "none", "busybox", cmd)
        assert r.rc == want, f"{runtime} {cmd}: {r.rc} {r.err}"
        assert cmd in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert_no_debris(eng)


def test_default_runtime_is_ours_and_runc_stays_selectable(eng: Env) -> None:
    need(shutil.which("runc"), "runc", "apt-get install runc")
    runs = {
        "default": eng.run("run", "--name", "d", "busybox", "echo", "hi"),
        "flag": eng.run("run", "--name", "f", "--runtime", "runc", "busybox", "echo", "hi"),
        "env": eng.run("run", "--name", "e", "busybox", "echo", "hi", env={"ROOTLESS_RUNTIME": "runc"}),
    }  # fmt: skip
    for what, r in runs.items():
        assert (r.rc, r.out) == (0, "hi\n"), f"{what}: {r.err}"
    got = {n: eng.run("inspect", "-f", "{{.OCIRuntime}}", n, check=True).out.strip() for n in "dfe"}
    assert got["d"] == "rootless-runtime"
    assert got["f"].endswith("/runc") and got["e"].endswith("/runc")
    eng.run("rm", "d", "f", "e", check=True)
    assert_no_debris(eng)


def test_in_process_container_is_visible_to_the_runtime_cli(eng: Env) -> None:
    cid = eng.run("run", "-d", "--network", "none", "busybox", "sleep", "60", check=True)
    cid_s = cid.out.strip()
    rc, out, err = runtime_cli(eng, "state", cid_s)
    assert rc == 0, err
    state = json.loads(out)
    assert state["status"] == "running" and state["pid"] > 0 and state["id"] == cid_s
    rc, out, err = runtime_cli(eng, "list", "-q")
    assert rc == 0 and cid_s in out.split(), err
    rc, out, err = runtime_cli(eng, "exec", cid_s, "cat", "/proc/1/cmdline")
    assert (rc, out) == (0, "sleep\x0060\x00"), err
    # The runtime's own kill ends it; the monitor (which created it) records the exit.
    rc, _, err = runtime_cli(eng, "kill", cid_s, "KILL")
    assert rc == 0, err
    assert eng.run("wait", cid_s).out.strip() == "137"
    eng.run("rm", cid_s, check=True)
    rc, _, err = runtime_cli(eng, "state", cid_s)
    assert rc == 1 and "does not exist" in err
    assert_no_debris(eng)


def test_seccomp_filter_from_the_cache_still_denies(eng: Env) -> None:
    """Docker's profile denies unshare without CAP_SYS_ADMIN: the same with a compiled
    filter, a cached one, and after the cache file was damaged (rebuilt, not loaded)."""
    cache = eng.runroot / "oci" / "@seccomp-cache"

    def denied() -> None:
        r = eng.run("run", "--rm", "--network", "none", "busybox", "unshare", "-U", "true")
        assert r.rc != 0 and "Operation not permitted" in r.err, (r.rc, r.err)

    denied()  # compiled, then written to the cache
    entries = sorted(cache.iterdir())
    assert len(entries) == 1 and entries[0].read_bytes().startswith(MAGIC)
    good = entries[0].read_bytes()
    denied()  # loaded from the cache
    entries[0].write_bytes(good[: len(good) // 2])  # torn
    denied()
    assert entries[0].read_bytes() == good  # rebuilt
    r = eng.run("run", "--rm", "--network", "none", "--cap-add", "SYS_ADMIN", "busybox",
                "unshare", "-U", "true")  # fmt: skip
    assert r.rc == 0, r.err  # another profile: another entry
    assert len(list(cache.iterdir())) == 2
    assert_no_debris(eng)
