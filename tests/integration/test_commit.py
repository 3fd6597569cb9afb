"""`rootless commit`: a container's changes (additions, deletions as whiteouts) become a
new image whose containers have them; --change/-m/-a; committing a running container."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import Env


def _inspect_image(rl: Env, ref: str) -> dict[str, Any]:
    r = rl.run("image", "inspect", ref)
    assert r.rc == 0, r.err
    data = r.json()
    assert isinstance(data, list)
    return dict(data[0])


def test_commit_keeps_additions_and_deletions(rl: Env, busybox_image: str) -> None:
    script = (
        "echo new > /added; mkdir /opt; cp /bin/busybox /opt/busybox; rm /etc/group; mkdir -p /d/e"
    )
    r = rl.run("run", "--name", "c1", busybox_image, "sh", "-c", script)
    assert r.rc == 0, r.err
    diff = rl.run("diff", "c1")
    assert diff.rc == 0 and "D /etc/group" in diff.out and "A /added" in diff.out
    r = rl.run(
        "commit", "-m", "my message", "-a", "Ann <ann@example.org>",
        "-c", "ENV GREETING=hi", "-c", 'CMD ["cat", "/added"]', "-c", "WORKDIR /d",
        "c1", "committed:v1",
    )  # fmt: skip
    assert r.rc == 0, r.err
    image_id = r.out.strip()
    assert len(image_id) == 64

    assert rl.run("run", "--rm", "committed:v1").out == "new\n"  # the new CMD
    out = rl.run("run", "--rm", "committed:v1", "sh", "-c",
                 "/opt/busybox echo tool-ok; echo $GREETING; pwd; ls /etc/group || echo deleted")  # fmt: skip
    assert out.out.split() == ["tool-ok", "hi", "/d", "deleted"], out.err
    info = _inspect_image(rl, "committed:v1")
    assert info["Id"] == image_id and info["Author"] == "Ann <ann@example.org>"
    assert "GREETING=hi" in info["Config"]["Env"] and info["Config"]["WorkingDir"] == "/d"
    base = _inspect_image(rl, busybox_image)
    assert info["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]  # one new layer on top
    hist = rl.run("history", "committed:v1")
    assert "my message" in hist.out
    # The base image is untouched.
    assert rl.run("run", "--rm", busybox_image, "ls", "/etc/group").rc == 0


def test_commit_a_running_container_pauses_and_resumes_it(rl: Env, busybox_image: str) -> None:
    r = rl.run("run", "-d", "--name", "live", "-v", "vdata:/data", busybox_image, "sh", "-c",
               "echo state > /state; echo vol > /data/v; exec sleep 60")  # fmt: skip
    assert r.rc == 0, r.err
    try:
        for _ in range(100):
            if rl.run("exec", "live", "cat", "/state").out == "state\n":
                break
        assert rl.run("commit", "-p", "live", "snap").rc == 0
        ps = rl.run("ps", "--format", "{{.Names}} {{.State}}").out
        assert "live running" in ps  # resumed after the commit
        assert rl.run("exec", "live", "true").rc == 0
    finally:
        rl.run("rm", "-f", "live", timeout=60)
    out = rl.run(
        "run",
        "--rm",
        "snap",
        "sh",
        "-c",
        "cat /state; ls /data/v 2>/dev/null || echo no-volume-data",
    )
    assert out.out.split() == ["state", "no-volume-data"]  # volumes are not committed


def test_commit_errors(rl: Env, busybox_image: str) -> None:
    missing = rl.run("commit", "nosuch", "x")
    assert missing.rc == 125 and "no such container: nosuch" in missing.err
    assert rl.run("run", "--name", "c", busybox_image, "true").rc == 0
    bad = rl.run("commit", "-c", "FROB x", "c", "x")
    assert bad.rc == 125 and "unsupported instruction" in bad.err
    badname = rl.run("commit", "c", "Not A Name")
    assert badname.rc == 125 and len(badname.err.strip().splitlines()) == 1
    untagged = rl.run("commit", "c")
    assert untagged.rc == 0 and len(untagged.out.strip()) == 64


def test_image_volumes_become_anonymous_volumes(rl: Env, busybox_image: str) -> None:
    r = rl.run(
        "run", "--name", "base", busybox_image, "sh", "-c", "mkdir /cache; echo seed > /cache/s"
    )
    assert r.rc == 0, r.err
    assert rl.run("commit", "-c", "VOLUME /cache", "base", "withvol").rc == 0
    r = rl.run("run", "--name", "user", "withvol", "sh", "-c", "cat /cache/s; echo run > /cache/r")
    assert r.rc == 0 and r.out == "seed\n", r.err  # the new anonymous volume was filled
    anon = rl.run("volume", "ls", "-q", "--filter", "anonymous=true").out.split()
    assert len(anon) == 1
    mount = rl.run("volume", "inspect", "--format", "{{.Mountpoint}}", anon[0]).out.strip()
    assert sorted(p.name for p in Path(mount).iterdir()) == ["r", "s"]
    # Restarting the container reuses its anonymous volume.
    assert rl.run("start", "-a", "user").rc == 0
    assert rl.run("volume", "ls", "-q", "--filter", "anonymous=true").out.split() == anon
