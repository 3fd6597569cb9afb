"""Image names parsed and normalized like Docker/Podman."""

from __future__ import annotations

import pytest

from rootless.images.reference import BadReference, is_id_prefix, lookup_candidates, parse


@pytest.mark.parametrize(
    ("text", "full"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("user/app", "docker.io/user/app:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("quay.io/ns/name:v1", "quay.io/ns/name:v1"),
        ("localhost/mine", "localhost/mine:latest"),
        ("localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t"),
        ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest"),
        ("my-reg.example/a_b/c-d:1.0-rc", "my-reg.example/a_b/c-d:1.0-rc"),
    ],
)
def test_normalizes(text: str, full: str) -> None:
    assert str(parse(text)) == full


def test_digest_reference_has_no_default_tag() -> None:
    d = "sha256:" + "a" * 64
    r = parse(f"busybox@{d}")
    assert r.tag is None and r.digest == d
    assert str(r) == f"docker.io/library/busybox@{d}"


def test_familiar_form() -> None:
    assert parse("busybox").familiar() == "busybox:latest"
    assert parse("user/app:v2").familiar() == "user/app:v2"
    assert parse("quay.io/x/y").familiar() == "quay.io/x/y:latest"


@pytest.mark.parametrize(
    "bad",
    ["", " busybox", "Busybox", "busy box", "busybox:", "busybox:-x", "a//b", "busybox@sha256:zz",
     "x:" + "t" * 200, "reg.io/", "/abs"],
)  # fmt: skip
def test_malformed_names_get_a_clear_error(bad: str) -> None:
    with pytest.raises(BadReference) as e:
        parse(bad)
    assert "invalid image name" in str(e.value)


def test_lookup_candidates_short_names_try_localhost() -> None:
    assert lookup_candidates("busybox") == [
        "docker.io/library/busybox:latest",
        "localhost/busybox:latest",
    ]
    assert lookup_candidates("docker.io/busybox") == ["docker.io/library/busybox:latest"]
    assert lookup_candidates("quay.io/a/b:c") == ["quay.io/a/b:c"]


def test_id_prefix() -> None:
    assert is_id_prefix("3f5a9c")
    assert is_id_prefix("sha256:" + "0" * 64)
    assert not is_id_prefix("ab")
    assert not is_id_prefix("busybox")


def test_short_name_matches_any_registry() -> None:
    from rootless.images.reference import names_short, short_match

    assert names_short("busybox") and names_short("user/app:1")
    assert not names_short("127.0.0.1:5000/busybox") and not names_short("localhost/x")
    assert short_match("busybox", "127.0.0.1:5000/busybox:latest")
    assert short_match("busybox", "docker.io/library/busybox:latest")
    assert short_match("busybox:1", "quay.io/busybox:1")
    assert not short_match("busybox", "127.0.0.1:5000/busybox:1")
    assert not short_match("busybox", "127.0.0.1:5000/other/busybox:latest")
    assert short_match("team/app", "registry.example:5000/team/app:latest")
