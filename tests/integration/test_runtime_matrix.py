"""The same bundles through Debian's runc and through rootless-runtime, as the
unprivileged test user: the observable results must be the same.

Modes: "single" (runc spec --rootless: own uid -> 0), "full" (0 -> own uid, 1.. -> the
subuid range, written by newuidmap/newgidmap), and "nouserns" (the engine's case: the
runtime runs as root inside an existing user namespace with the full map, `unshare
--map-users`, and the bundle has no user namespace).
"""

from __future__ import annotations

import copy
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.integration.test_runtime_helpers import (
    SUBID_COUNT,
    SUBID_START,
    Runtime,
    base_config,
    full_map,
    make_rootfs,
    no_userns,
    normalize_mountinfo,
    runtime_pair,
)

MODES = ("single", "full", "nouserns")
UNSHARE_FULL = [
    "unshare",
    "--user",
    "--map-root-user",
    f"--map-users={SUBID_START},1,{SUBID_COUNT}",
    f"--map-groups={SUBID_START},1,{SUBID_COUNT}",
    "--mount",
    "--",
]


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need(os.getuid() != 0, "tests run as an unprivileged user", "run scripts/test.sh as root")
    return make_rootfs(tmp_path_factory.mktemp("rt-matrix") / "rootfs")


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Runtime, Runtime]]:
    with runtime_pair(tmp_path) as p:
        yield p


def config_for(mode: str, rootfs: Path, args: list[str]) -> dict[str, Any]:
    cfg = base_config(rootfs, args)
    if mode == "full":
        return full_map(cfg)
    if mode == "nouserns":
        return no_userns(cfg)
    return cfg


def both(
    pair: tuple[Runtime, Runtime], tmp_path: Path, mode: str, cfg: dict[str, Any], cid: str
) -> tuple[Any, Any]:
    results = []
    for rt in pair:
        if mode == "nouserns":
            rt.prefix = UNSHARE_FULL
        results.append(rt.run(tmp_path, cid, copy.deepcopy(cfg)))
    runc, ours = results
    assert runc.returncode == ours.returncode, (runc.stderr, ours.stderr)
    return runc, ours


IDENTITY = (
    "id; hostname; grep -E '^(Cap|NoNewPrivs)' /proc/self/status; ulimit -n; ulimit -Hn;"
    " ulimit -s; env | sort; pwd; echo pid=$$; umask; ls /proc/self/fd | sort"
)


@pytest.mark.parametrize("mode", MODES)
def test_identity_caps_rlimits_env_cwd(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path, mode: str
) -> None:
    cfg = config_for(mode, rootfs, ["sh", "-c", IDENTITY])
    cfg["hostname"] = "matrix"
    cfg["process"]["cwd"] = "/tmp"
    cfg["process"]["env"].append("GREETING=hello world")
    cfg["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
        {"type": "RLIMIT_STACK", "soft": 4 << 20, "hard": 8 << 20},
    ]
    runc, ours = both(pair, tmp_path, mode, cfg, "ident")
    assert runc.returncode == 0, runc.stderr
    assert ours.stdout == runc.stdout
    out = ours.stdout
    assert out.startswith("uid=0(root) gid=0(root)")
    assert "\nmatrix\n" in out
    assert "pid=1\n" in out
    assert "NoNewPrivs:\t1" in out
    assert "GREETING=hello world" in out
    assert "\n512\n1000\n4096\n" in out
    assert "\n/tmp\n" in out


def test_identity_non_root_user_full_map(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path
) -> None:
    cfg = config_for("full", rootfs, ["sh", "-c", IDENTITY])
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "umask": 0o27}
    cfg["process"]["noNewPrivileges"] = False
    caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"]
    cfg["process"]["capabilities"] = {
        "bounding": caps,
        "effective": caps,
        "permitted": caps,
        "inheritable": caps,
        "ambient": caps[:2],
    }
    runc, ours = both(pair, tmp_path, "full", cfg, "nonroot")
    assert runc.returncode == 0, runc.stderr
    assert ours.stdout == runc.stdout
    assert "uid=1000(user) gid=1000(user)" in ours.stdout
    assert "NoNewPrivs:\t0" in ours.stdout
    assert "CapAmb:\t0000000000000420" in ours.stdout
    assert "\n0027\n" in ours.stdout


@pytest.mark.parametrize("mode", MODES)
def test_mount_table(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path, mode: str
) -> None:
    cfg = config_for(mode, rootfs, ["cat", "/proc/self/mountinfo"])
    runc, ours = both(pair, tmp_path, mode, cfg, "mnt")
    assert runc.returncode == 0, runc.stderr
    mine = normalize_mountinfo(ours.stdout)
    assert mine == normalize_mountinfo(runc.stdout)
    # The container sees its own mounts only: nothing of the host's tree. (Without an own
    # network namespace /sys is a recursive bind of the host's, as with runc, so the
    # host's sysfs submounts such as /sys/kernel/tracing come along.)
    points = {line.split()[0] for line in mine if not line.startswith("/sys/kernel/")}
    assert points <= {
        "/",
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        *(f"/dev/{d}" for d in ("null", "zero", "full", "random", "urandom", "tty")),
        *(f"/proc/{p}" for p in ("bus", "fs", "irq", "sys", "sysrq-trigger", "acpi", "keys")),
        *(f"/proc/{p}" for p in ("timer_list", "kcore", "latency_stats", "sched_debug", "scsi")),
        "/sys/firmware",
    }, points
    assert "/ ext4 ro,relatime" in mine or any(m.startswith("/ ") and " ro," in m for m in mine)


DEVICES = (
    "for d in null zero full random urandom tty; do test -c /dev/$d && echo $d; done;"
    " echo x > /dev/null && echo null-writable; head -c 4 /dev/zero | od -An -tx1;"
    " head -c 16 /dev/urandom | wc -c; echo x 2>/dev/null > /dev/full; echo full=$?;"
    " ls -l /dev | awk 'NR>1 {print $1, $3, $4, $NF}'"
)


@pytest.mark.parametrize("mode", ["single", "nouserns"])
def test_devices(pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path, mode: str) -> None:
    cfg = config_for(mode, rootfs, ["sh", "-c", DEVICES])
    runc, ours = both(pair, tmp_path, mode, cfg, "dev")
    assert ours.stdout == runc.stdout
    assert "null-writable" in ours.stdout
    assert " 00 00 00 00\n16\nfull=1\n" in ours.stdout
    assert "lrwxrwxrwx root root pts/ptmx" in ours.stdout


MASKED = (
    "echo keys=$(cat /proc/keys | wc -c); echo firmware=$(ls /sys/firmware | wc -l);"
    " echo acpi=$(ls /proc/acpi | wc -l); echo timers=$(cat /proc/timer_list | wc -c);"
    " touch /proc/acpi/x 2>/dev/null; echo acpi-write=$?;"
    " echo 1 2>/dev/null > /proc/sys/kernel/hostname; echo sys-write=$?;"
    " touch /etc/x 2>/dev/null; echo root-write=$?"
)


@pytest.mark.parametrize("mode", ["single", "full"])
def test_masked_and_readonly_paths(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path, mode: str
) -> None:
    cfg = config_for(mode, rootfs, ["sh", "-c", MASKED])
    runc, ours = both(pair, tmp_path, mode, cfg, "masked")
    assert ours.stdout == runc.stdout
    for expect in ("keys=0", "firmware=0", "acpi=0", "timers=0"):
        assert expect in ours.stdout
    for expect in ("acpi-write=1", "sys-write=1", "root-write=1"):
        assert expect in ours.stdout


@pytest.mark.parametrize(("script", "code"), [("exit 0", 0), ("exit 1", 1), ("exit 42", 42)])
def test_exit_codes(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path, script: str, code: int
) -> None:
    cfg = config_for("single", rootfs, ["sh", "-c", script])
    _runc, ours = both(pair, tmp_path, "single", cfg, "exit")
    assert ours.returncode == code


@pytest.mark.parametrize(("sig", "pidns", "code"), [("KILL", True, 137), ("TERM", False, 143)])
def test_killed_by_signal_exit_status(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path, sig: str, pidns: bool, code: int
) -> None:
    """`run` exits 128+N when the container dies of signal N. Without a pid namespace the
    process is not an init, so SIGTERM (no handler) kills it as well."""
    cfg = config_for("single", rootfs, ["sleep", "100"])
    if not pidns:
        # Without a pid namespace of its own the kernel refuses a fresh proc: bind the host's.
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
        cfg["mounts"][0] = {
            "destination": "/proc",
            "type": "bind",
            "source": "/proc",
            "options": ["rbind"],
        }
    codes = []
    for rt in pair:
        b = rt.bundle(tmp_path, "sig", cfg)
        proc = rt.popen("run", "--bundle", str(b), "sig")
        try:
            st = {}
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                p = rt("state", "sig")
                if p.returncode == 0 and '"running"' in p.stdout:
                    st = rt.state("sig")
                    break
                time.sleep(0.02)
            assert st.get("status") == "running", (rt.name, proc.poll())
            k = rt("kill", "sig", sig)
            assert k.returncode == 0, k.stderr
            codes.append(proc.wait(timeout=15))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert codes == [code, code], codes


def test_state_json_lifecycle(pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path) -> None:
    cfg = config_for("single", rootfs, ["sleep", "100"])
    cfg["annotations"] = {"org.example.key": "value"}
    seen: dict[str, list[dict[str, Any]]] = {}
    for rt in pair:
        b = rt.bundle(tmp_path, "st", cfg)
        pidfile = tmp_path / f"{rt.name}.pid"
        p = rt.detached("create", "--bundle", str(b), "--pid-file", str(pidfile), "st")
        assert p.returncode == 0, p.stderr
        created = rt.state("st")
        assert created["pid"] == int(pidfile.read_text())
        assert rt("start", "st").returncode == 0
        running = rt.state("st")
        assert rt("kill", "st", "KILL").returncode == 0
        stopped = rt.wait_status("st", "stopped")
        d = rt("delete", "st")
        assert d.returncode == 0, d.stderr
        assert rt("state", "st").returncode != 0
        seen[rt.name] = [created, running, stopped]
    for ra, rb in zip(seen["runc"], seen["ours"], strict=True):
        assert set(ra) == set(rb)
        for key in ("id", "status", "rootfs", "annotations", "owner"):
            assert ra.get(key) == rb.get(key), key
        assert ra["bundle"].replace("runc-st", "X") == rb["bundle"].replace("ours-st", "X")
        assert (ra["pid"] > 0) == (rb["pid"] > 0)
    assert [s["status"] for s in seen["ours"]] == ["created", "running", "stopped"]
    assert seen["ours"][0]["bundle"] == str(tmp_path / "ours-st")


@pytest.mark.parametrize(
    ("mode", "user", "host_uid"), [("single", 0, "own"), ("full", 1000, "sub")]
)
def test_bind_mount_file_ownership(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path, mode: str, user: int, host_uid: str
) -> None:
    expected = os.getuid() if host_uid == "own" else SUBID_START + user - 1
    for rt in pair:
        data = tmp_path / f"data-{rt.name}"
        data.mkdir()
        data.chmod(0o777)
        cfg = config_for(mode, rootfs, ["sh", "-c", "echo hi > /data/made && id -u && echo $$"])
        cfg["process"]["user"] = {"uid": user, "gid": user}
        cfg["mounts"].append(
            {
                "destination": "/data",
                "type": "bind",
                "source": str(data),
                "options": ["rbind", "rw"],
            }
        )
        p = rt.run(tmp_path, "own", cfg)
        assert p.returncode == 0, p.stderr
        assert p.stdout == f"{user}\n1\n"
        st = (data / "made").stat()
        assert (rt.name, st.st_uid) == (rt.name, expected)
        assert (data / "made").read_text() == "hi\n"
        rt.ids.discard("own")


@pytest.mark.parametrize("nnp", [True, False])
def test_seccomp_profiles(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path, nnp: bool
) -> None:
    """With no_new_privs the filter is loaded last; without it, before the capabilities
    go (loading then needs CAP_SYS_ADMIN), and NoNewPrivs must stay 0."""
    from rootless.runtime.seccomp import default_profile

    script = (
        "mkdir /tmp/x 2>&1; echo mkdir=$?; unshare -U true 2>/dev/null; echo unshare=$?;"
        " grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"
    )
    cfg = config_for("full", rootfs, ["sh", "-c", script])
    cfg["process"]["noNewPrivileges"] = nnp
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    cfg["root"]["readonly"] = False
    cfg["mounts"].append(
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}
    )
    prof = default_profile(cfg["process"]["capabilities"]["bounding"])
    allow = prof["syscalls"][0]["names"]
    allow.remove("mkdir")
    allow.remove("mkdirat")
    prof["syscalls"].append(
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
    )
    cfg["linux"]["seccomp"] = prof
    runc, ours = both(pair, tmp_path, "full", cfg, "secc")
    assert runc.returncode == 0, runc.stderr
    assert ours.stdout == runc.stdout
    assert "Permission denied" in ours.stdout
    assert "unshare=1" in ours.stdout  # the default profile refuses unshare without SYS_ADMIN
    assert f"NoNewPrivs:\t{int(nnp)}\nSeccomp:\t2\n" in ours.stdout


def test_kill_signal_reaches_process_with_handler(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path
) -> None:
    script = "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done"
    cfg = config_for("single", rootfs, ["sh", "-c", script])
    for rt in pair:
        b = rt.bundle(tmp_path, "trap", cfg)
        proc = rt.popen("run", "--bundle", str(b), "trap")
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        assert rt("kill", "trap", str(int(signal.SIGTERM))).returncode == 0
        assert proc.wait(timeout=15) == 7
        assert proc.stdout.read() == "got-term\n"
