"""`rootless build` end to end on busybox: real user namespace, real runtime, real store.

Every test builds with the real CLI and checks the result by running it (`rootless run`)
or reading its config (`rootless image inspect`), never by looking at builder internals.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Env, Result


def write(ctx: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = ctx / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return ctx


def build(rl: Env, ctx: Path, *args: str, ok: bool = True, timeout: float = 300) -> Result:
    r = rl.run("build", *args, str(ctx), timeout=timeout)
    if ok:
        assert r.rc == 0, f"build failed ({r.rc}):\n{r.out}\n{r.err}"
    return r


def run_in(rl: Env, image: str, *cmd: str) -> str:
    r = rl.run("run", "--rm", "--network", "none", image, *cmd, timeout=120)
    assert r.rc == 0, f"run {cmd}: {r.rc}\n{r.out}\n{r.err}"
    return r.out


def config(rl: Env, image: str) -> dict[str, Any]:
    r = rl.run("image", "inspect", image, check=True)
    data = json.loads(r.out)
    return dict((data[0] if isinstance(data, list) else data)["Config"])


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    d = tmp_path / "ctx"
    d.mkdir()
    return d


def test_build_steps_output_and_result(rl: Env, busybox_image: str, ctx: Path) -> None:
    write(ctx, {
        "Dockerfile": (
            "FROM busybox\n"
            "ARG WHO=world\n"
            "ENV GREETING=hello\n"
            "WORKDIR /app\n"
            "COPY msg.txt .\n"
            'RUN echo "$GREETING $WHO" > out.txt && echo RUN-OUTPUT-MARKER\n'
            'CMD ["cat", "/app/out.txt", "/app/msg.txt"]\n'
        ),
        "msg.txt": "from the context\n",
    })  # fmt: skip
    iid = ctx.parent / "iid"
    r = build(rl, ctx, "-t", "first", "-t", "second:v2", "--build-arg", "WHO=build",
              "--iidfile", str(iid))  # fmt: skip
    lines = r.out.splitlines()
    assert lines[0] == "STEP 1/7: FROM busybox"
    assert 'STEP 6/7: RUN echo "$GREETING $WHO" > out.txt && echo RUN-OUTPUT-MARKER' in lines
    assert "RUN-OUTPUT-MARKER" in lines  # the command's own output is streamed
    assert "Successfully tagged localhost/first:latest" in lines
    assert "Successfully tagged localhost/second:v2" in lines
    image_id = lines[-1]
    assert iid.read_text() == f"sha256:{image_id}"
    assert run_in(rl, "first") == "hello build\nfrom the context\n"
    assert run_in(rl, "second:v2") == "hello build\nfrom the context\n"
    cfg = config(rl, "first")
    assert cfg["WorkingDir"] == "/app"
    assert "GREETING=hello" in cfg["Env"]
    # -q: only the id
    q = build(rl, ctx, "-q", "--build-arg", "WHO=build")
    assert q.out.strip() == image_id


def test_lowercase_dockerfile_f_target_label_and_errors(
    rl: Env, busybox_image: str, ctx: Path
) -> None:
    write(ctx, {
        "dockerfile": "FROM busybox AS base\nLABEL from=lowercase\nFROM base\nLABEL stage=two\n",
        "other/Build.file": "FROM busybox\nLABEL from=dash-f\n",
    })  # fmt: skip
    build(rl, ctx, "-t", "lower", "--label", "extra=1")
    labels = config(rl, "lower")["Labels"]
    assert labels == {"from": "lowercase", "stage": "two", "extra": "1"}
    build(rl, ctx, "-t", "only-base", "--target", "base")
    assert config(rl, "only-base")["Labels"] == {"from": "lowercase"}
    build(rl, ctx, "-t", "dashf", "-f", str(ctx / "other" / "Build.file"))
    assert config(rl, "dashf")["Labels"] == {"from": "dash-f"}

    bad = build(rl, ctx, "--target", "nope", ok=False)
    assert bad.rc == 125 and "nope" in bad.err and len(bad.err.strip().splitlines()) == 1
    write(ctx, {"Dockerfile": "FROM busybox\nCOPY missing.txt /\n"})
    bad = build(rl, ctx, ok=False)
    assert bad.rc == 125 and "missing.txt" in bad.err
    write(ctx, {"Dockerfile": "FROM busybox\nRUN exit 3\n"})
    bad = build(rl, ctx, ok=False)
    assert bad.rc == 125 and "status 3" in bad.err
    write(ctx, {"Dockerfile": "FROM busybox\nCOPPY a b\n"})
    bad = build(rl, ctx, ok=False)
    assert bad.rc == 125 and "Dockerfile:2" in bad.err
    bad = build(rl, ctx, "--platform", "linux/s390x", ok=False)
    assert bad.rc == 125 and "platform" in bad.err


def test_dockerignore(rl: Env, busybox_image: str, ctx: Path) -> None:
    write(ctx, {
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\n",
        ".dockerignore": "*.log\nsecrets\nnode_modules/**\n!keep.log\nDockerfile\n",
        "app.py": "x", "debug.log": "x", "keep.log": "x", "secrets/key": "x",
        "node_modules/a/b.js": "x", "src/deep/mod.py": "x", "src/deep/trace.log": "x",
    })  # fmt: skip
    build(rl, ctx, "-t", "ign")
    found = set(run_in(rl, "ign", "find", "/ctx", "-type", "f").split())
    # `*.log` has no `**/`: it only matches at the top, as in Docker
    assert found == {"/ctx/.dockerignore", "/ctx/app.py", "/ctx/keep.log",
                     "/ctx/src/deep/mod.py", "/ctx/src/deep/trace.log"}  # fmt: skip
    write(ctx, {"Dockerfile": "FROM busybox\nCOPY secrets/key /\n"})
    bad = build(rl, ctx, ok=False)
    assert bad.rc == 125 and "dockerignore" in bad.err


def test_layer_cache(rl: Env, busybox_image: str, ctx: Path) -> None:
    write(ctx, {
        "Dockerfile": (
            "FROM busybox\n"
            "RUN echo ran-$((0+1)) && touch /one\n"
            "COPY a.txt /a.txt\n"
            "RUN echo ran-$((1+2)) && cat /a.txt > /copy\n"
            "COPY b.txt /b.txt\n"
            "RUN echo ran-$((2+3))\n"
        ),
        "a.txt": "a1\n", "b.txt": "b1\n",
    })  # fmt: skip

    def ran(r: Result) -> list[str]:
        return [ln for ln in r.out.splitlines() if ln.startswith("ran-")]

    first = build(rl, ctx, "-t", "cached")
    assert ran(first) == ["ran-1", "ran-3", "ran-5"]
    info = json.loads(rl.run("image", "inspect", "cached", check=True).out)[0]
    assert len(info["RootFS"]["Layers"]) == 5  # busybox + 4 steps: the last RUN changed nothing
    t0 = time.monotonic()
    second = build(rl, ctx, "-t", "cached")
    elapsed = time.monotonic() - t0
    assert ran(second) == []  # no RUN step ran
    assert second.out.count("--> Using cache") == 5
    assert second.out.splitlines()[-1] == first.out.splitlines()[-1]  # the same image
    assert elapsed < 10, f"cached rebuild took {elapsed:.1f}s"

    (ctx / "a.txt").write_text("a2\n")  # everything from its COPY on reruns
    third = build(rl, ctx, "-t", "cached")
    assert ran(third) == ["ran-3", "ran-5"]
    assert third.out.count("--> Using cache") == 1
    assert run_in(rl, "cached", "cat", "/copy") == "a2\n"

    os.utime(ctx / "b.txt", (1, 1))  # a new mtime alone is no change
    assert ran(build(rl, ctx, "-t", "cached")) == []
    nocache = build(rl, ctx, "--no-cache", "-t", "cached")
    assert "Using cache" not in nocache.out and ran(nocache) == ["ran-1", "ran-3", "ran-5"]


def test_multistage_copy_from_builder(rl: Env, busybox_image: str, ctx: Path) -> None:
    write(ctx, {
        "Dockerfile": (
            "FROM busybox AS builder\n"
            "WORKDIR /src\n"
            "COPY main.sh .\n"
            "RUN mkdir -p /out && sed 's/NAME/artefact/' main.sh > /out/tool"
            " && chmod 755 /out/tool && chown 1234:5678 /out/tool\n"
            "FROM busybox AS unused\n"
            "RUN echo UNUSED-STAGE-RAN && false\n"
            "FROM busybox\n"
            "COPY --from=builder /out/tool /usr/local/bin/tool\n"
            "COPY --from=0 /src/main.sh /main.sh\n"
            'CMD ["tool"]\n'
        ),
        "main.sh": "#!/bin/sh\necho hello from NAME\n",
    })  # fmt: skip
    r = build(rl, ctx, "-t", "multi")
    assert "UNUSED-STAGE-RAN" not in r.out  # a stage the target does not need is skipped
    assert "[1/2] STEP 1/4: FROM busybox AS builder" in r.out
    assert run_in(rl, "multi") == "hello from artefact\n"
    # COPY --from keeps the owner the stage gave the file
    assert run_in(rl, "multi", "stat", "-c", "%u:%g %a", "/usr/local/bin/tool") == "1234:5678 755\n"
    assert run_in(rl, "multi", "cat", "/main.sh").startswith("#!/bin/sh")


def test_copy_add_semantics(rl: Env, busybox_image: str, ctx: Path, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("pkg/lib.txt", b"lib\n"), ("pkg/bin/run", b"run\n")):
            ti = tarfile.TarInfo(name)
            ti.size, ti.uid, ti.gid, ti.mode = len(data), 42, 43, 0o640
            tf.addfile(ti, io.BytesIO(data))
    (ctx / "bundle.tar.gz").write_bytes(buf.getvalue())
    served = tmp_path / "www"
    write(served, {"remote.txt": "downloaded\n"})
    write(ctx, {
        "Dockerfile": (
            "FROM busybox\n"
            "COPY *.txt /globbed/\n"
            "COPY --chown=nobody --chmod=0751 dir /owned\n"
            "COPY --chown=1000:2000 one.txt /file-renamed\n"
            "ADD bundle.tar.gz /unpacked/\n"
            "COPY bundle.tar.gz /kept/\n"
            "ADD http://127.0.0.1:{port}/remote.txt /fetched/\n"
            "COPY <<EOF /inline.txt\nhere-doc body\nEOF\n"
            "COPY --exclude=dir/sub dir /excluded/\n"
        ),
        "one.txt": "1\n", "two.txt": "2\n", "dir/x": "x\n", "dir/sub/y": "y\n",
    })  # fmt: skip
    with _http_server(served) as port:
        df = (ctx / "Dockerfile").read_text().replace("{port}", str(port))
        (ctx / "Dockerfile").write_text(df)
        build(rl, ctx, "-t", "copies")
        bad_sum = "sha256:" + "0" * 64
        (ctx / "Dockerfile").write_text(
            f"FROM busybox\nADD --checksum={bad_sum} http://127.0.0.1:{port}/remote.txt /\n"
        )
        bad = build(rl, ctx, ok=False)
        assert bad.rc == 125 and "checksum mismatch" in bad.err

    def sh(script: str) -> str:
        return run_in(rl, "copies", "sh", "-c", script)

    assert sh("ls /globbed") == "one.txt\ntwo.txt\n"
    assert sh("stat -c '%U %a %n' /owned /owned/x /owned/sub/y") == (
        "nobody 751 /owned\nnobody 751 /owned/x\nnobody 751 /owned/sub/y\n"
    )
    assert sh("stat -c '%u:%g' /file-renamed") == "1000:2000\n"
    assert sh("stat -c '%u:%g %a' /unpacked/pkg/lib.txt; cat /unpacked/pkg/bin/run") == (
        "42:43 640\nrun\n"
    )
    assert sh("ls /kept") == "bundle.tar.gz\n"  # COPY never unpacks
    assert sh("cat /fetched/remote.txt; stat -c %a /fetched/remote.txt") == "downloaded\n600\n"
    assert sh("cat /inline.txt") == "here-doc body\n"
    assert sh("ls -A /excluded") == "x\n"


def test_symlinks_never_lead_out(rl: Env, busybox_image: str, ctx: Path, tmp_path: Path) -> None:
    host_target = tmp_path / "host-side"
    host_target.mkdir()
    (host_target / "secret").write_text("host secret\n")
    os.symlink(str(host_target), ctx / "abs-link")  # absolute: resolved in the context
    os.symlink("../../../../../../..", ctx / "up-link")
    write(ctx, {"a.txt": "a\n"})
    write(ctx, {"Dockerfile": "FROM busybox\nCOPY abs-link/secret /stolen\n"})
    bad = build(rl, ctx, ok=False)
    assert bad.rc == 125 and "secret" in bad.err  # not found inside the context

    escape = f"/tmp/rootless-build-escape-{os.getpid()}"
    write(ctx, {
        "Dockerfile": (
            "FROM busybox\n"
            f"RUN ln -s ../../../../../../..{escape} /link && ln -s /etc /etc-link\n"
            "COPY a.txt /link/\n"
            "COPY up-link /links/\n"
            "COPY a.txt /etc-link/a.txt\n"
        ),
    })  # fmt: skip
    build(rl, ctx, "-t", "links")
    assert not os.path.exists(escape)  # the write stayed inside the image
    assert run_in(rl, "links", "cat", f"{escape}/a.txt") == "a\n"
    assert run_in(rl, "links", "cat", "/etc/a.txt") == "a\n"


def test_run_mounts_workdir_and_user(rl: Env, busybox_image: str, ctx: Path) -> None:
    write(ctx, {
        "Dockerfile": (
            "FROM busybox AS tools\n"
            "RUN echo tool-data > /tool.txt\n"
            "FROM busybox\n"
            "RUN --mount=type=cache,target=/var/cache/pkgs"
            " echo x >> /var/cache/pkgs/count && wc -l < /var/cache/pkgs/count > /runs\n"
            "RUN --mount=type=bind,source=data,target=/mnt/data cat /mnt/data/in.txt > /ctx\n"
            "RUN --mount=type=bind,from=tools,source=/tool.txt,target=/opt/t/tool.txt"
            " cp /opt/t/tool.txt /stage\n"
            "RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && echo ok > /tmpfs\n"
            "WORKDIR /made/by/workdir\n"
            "USER nobody\n"
            "RUN id -u > /tmp/uid\n"
        ),
        "data/in.txt": "v1\n",
    })  # fmt: skip
    build(rl, ctx, "-t", "mounts")
    build(rl, ctx, "-t", "mounts", "--no-cache")
    assert run_in(rl, "mounts", "cat", "/runs").strip() == "2"  # the cache dir persisted

    def sh(script: str) -> str:
        return run_in(rl, "mounts", "sh", "-c", script)

    # mount points (and the parents made for them) are not left in the image
    assert sh("ls -A /var/cache; ls -d /mnt /opt /scratch 2>&1 | wc -l") == "3\n"
    assert sh("cat /ctx /stage /tmpfs /tmp/uid; pwd") == (
        "v1\ntool-data\nok\n65534\n/made/by/workdir\n"
    )
    (ctx / "data" / "in.txt").write_text("v2\n")  # bind-mounted content is in the key
    r = build(rl, ctx, "-t", "mounts")
    assert r.out.count("--> Using cache") == 2  # the tools stage, the cache-mount RUN
    assert run_in(rl, "mounts", "cat", "/ctx") == "v2\n"


class _http_server:
    """A static file server on 127.0.0.1 for ADD <url>, stopped on exit."""

    def __init__(self, root: Path) -> None:
        root_s = str(root)

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a: Any, **kw: Any) -> None:
                super().__init__(*a, directory=root_s, **kw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> int:
        self.thread.start()
        return int(self.server.server_address[1])

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_onbuild_triggers_run_in_the_child(rl: Env, busybox_image: str, ctx: Path) -> None:
    write(ctx, {
        "Dockerfile": "FROM busybox\nONBUILD COPY trigger.txt /from-trigger\nONBUILD RUN touch /ran\n",
        "trigger.txt": "t\n",
    })  # fmt: skip
    build(rl, ctx, "-t", "parent")
    assert config(rl, "parent")["OnBuild"] == ["COPY trigger.txt /from-trigger", "RUN touch /ran"]
    write(ctx, {"Dockerfile": "FROM parent\nLABEL child=1\n"})
    build(rl, ctx, "-t", "child")
    assert run_in(rl, "child", "sh", "-c", "cat /from-trigger && ls /ran") == "t\n/ran\n"
    assert not config(rl, "child").get("OnBuild")  # triggers fire once, in the child


def test_base_image_pulled_from_a_registry(
    rl: Env, busybox_image: str, ctx: Path, tmp_path: Path
) -> None:
    import shutil

    from tests.conftest import TEST_IMAGES, need
    from tests.integration.registry_server import run_registry, skopeo_copy

    need(shutil.which("docker-registry"), "docker-registry", "as root: scripts/setup-host.sh")
    with run_registry(tmp_path / "reg") as reg:
        skopeo_copy(f"oci:{TEST_IMAGES / 'busybox'}:latest",
                    f"docker://{reg.host}/library/bb:latest", "--dest-tls-verify=false")  # fmt: skip
        rl.config.mkdir(parents=True, exist_ok=True)
        (rl.config / "registries.conf").write_text(
            f'[[registry]]\nlocation = "{reg.host}"\ninsecure = true\n'
        )
        write(ctx, {"Dockerfile": f"FROM {reg.host}/library/bb:latest\nRUN echo pulled > /p\n"})
        r = build(rl, ctx, "-t", "from-registry")
        assert f"Trying to pull {reg.host}/library/bb:latest" in r.out
        assert run_in(rl, "from-registry", "cat", "/p") == "pulled\n"
        again = build(rl, ctx, "--pull", "-t", "from-registry")  # pulls again, cache holds
        assert "Trying to pull" in again.out and "--> Using cache" in again.out
