"""`rootless info` compared with the truth, as the unprivileged test user."""

from __future__ import annotations

import os
import platform
import pwd
import subprocess
from pathlib import Path

from tests.conftest import Env


def test_runs_as_unprivileged_user() -> None:
    # A rootless engine's tests prove nothing as root.
    assert os.getuid() != 0
    assert os.geteuid() != 0


def _subid_line(path: str, user: str) -> tuple[int, int]:
    for line in Path(path).read_text().splitlines():
        name, start, count = line.strip().split(":")
        if name == user:
            return int(start), int(count)
    raise AssertionError(f"{user} has no entry in {path}")


def test_info_json_matches_truth(rl: Env) -> None:
    res = rl.run("info", "--format", "json", check=True)
    info = res.json()
    assert isinstance(info, dict)
    user = pwd.getpwuid(os.getuid()).pw_name
    assert info["host"]["kernel"] == subprocess.check_output(["uname", "-r"], text=True).strip()
    assert info["host"]["arch"] == platform.machine()
    assert info["host"]["user"] == {"name": user, "uid": os.getuid(), "gid": os.getgid()}
    start, count = _subid_line("/etc/subuid", user)
    assert info["subuid"]["ok"] is True
    assert {"start": start, "count": count} in info["subuid"]["ranges"]
    gstart, gcount = _subid_line("/etc/subgid", user)
    assert {"start": gstart, "count": gcount} in info["subgid"]["ranges"]
    # The truth about user namespaces: try it ourselves with util-linux unshare.
    real = subprocess.run(["unshare", "-U", "true"]).returncode == 0
    assert info["userns"]["ok"] is real
    assert info["idmap"]["mode"] == "full"
    assert info["newuidmap"]["ok"] and info["newgidmap"]["ok"]
    assert info["store"]["data_dir"] == str(rl.root)
    assert info["store"]["runtime_dir"] == str(rl.runroot)
    assert info["fuse"]["ok"] is os.access("/dev/fuse", os.R_OK | os.W_OK)
    assert info["slirp4netns"]["ok"] is True
    assert info["store"]["storage_driver"] in ("overlay", "fuse", "vfs")
    # On these hybrid hosts nothing useful is delegated; wherever it is, say why not.
    if not info["cgroups"]["limits_available"]:
        assert info["cgroups"]["reason"]
        assert "Delegate=" in info["cgroups"]["fix"] or "cgroup" in info["cgroups"]["fix"]


def test_info_human_output(rl: Env) -> None:
    res = rl.run("info", check=True)
    assert "kernel:" in res.out
    assert "storage_driver:" in res.out


def test_info_without_subuid_says_so_with_fix(rl: Env) -> None:
    # A real user without subuid entries: `nobody`, by running inside a user namespace
    # that maps us to uid 65534 (util-linux unshare). The engine sees uid 65534,
    # whose name has no /etc/subuid line.
    nobody = pwd.getpwuid(65534).pw_name
    cmd = ["unshare", "--user", "--map-user=65534", "--map-group=65534", "--"]
    res = rl.run_wrapped(cmd, "info", "--format", "json")
    assert res.rc == 0, res.err
    info = res.json()
    assert isinstance(info, dict)
    assert info["host"]["user"]["uid"] == 65534
    assert info["subuid"]["ok"] is False
    assert f"usermod --add-subuids 100000-165535 {nobody}" in info["subuid"]["fix"]
    assert info["idmap"]["mode"] == "single"
    human = rl.run_wrapped(cmd, "info")
    assert human.rc == 0
    assert f"usermod --add-subuids 100000-165535 {nobody}" in human.out


def test_version_and_help_fast(rl: Env) -> None:
    res = rl.run("--version", check=True)
    assert res.out.startswith("rootless version ")
    res = rl.run("--help", check=True)
    assert "info" in res.out


def test_unknown_flag_is_125(rl: Env) -> None:
    res = rl.run("info", "--no-such-flag")
    assert res.rc == 125
    assert "no-such-flag" in res.err
