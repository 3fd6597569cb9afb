"""Volume records: create/get/all/remove/prune, options and filters (no namespaces needed)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from rootless.engine.volumes import Volume, VolumeStore, matches, parse_filters, parse_options
from rootless.errors import NotFound, UsageError
from rootless.paths import Paths


@pytest.fixture
def store(tmp_path: Path) -> VolumeStore:
    return VolumeStore(
        Paths(data=tmp_path / "data", config=tmp_path / "cfg", runtime=tmp_path / "run")
    )


def test_create_get_and_idempotence(store: VolumeStore) -> None:
    v = store.create("db", labels={"app": "x"}, options={"o": "mode=0770"})
    assert v.mountpoint == str(store.base / "db" / "_data")
    assert stat.S_IMODE(os.stat(v.mountpoint).st_mode) == 0o770
    meta = json.loads((store.base / "db" / "volume.json").read_text())
    assert meta["name"] == "db" and meta["labels"] == {"app": "x"} and meta["needs_copy_up"]
    assert store.get("db") == v
    again = store.create("db")  # Docker's `volume create` of an existing name returns it
    assert again == v
    anon = store.create(anonymous=True)
    assert len(anon.name) == 64 and anon.anonymous
    assert [x.name for x in store.all()] == sorted(["db", anon.name])
    assert not list(store.base.glob(".tmp-*"))  # no debris from the atomic create


def test_inspect_shape(store: VolumeStore) -> None:
    info = store.create("v").inspect()
    assert info["Name"] == "v" and info["Driver"] == "local" and info["Scope"] == "local"
    assert info["Mountpoint"].endswith("/volumes/v/_data") and info["CreatedAt"].endswith("Z")


def test_copy_up_flag_clears_once(store: VolumeStore) -> None:
    store.create("v")
    store.mark_copied("v")
    assert store.get("v").needs_copy_up is False


def test_remove_and_prune(store: VolumeStore) -> None:
    store.create("a")
    store.create("b", labels={"keep": "1"})
    Path(store.get("a").mountpoint, "file").write_text("x")
    store.remove("a")
    assert not (store.base / "a").exists()
    with pytest.raises(NotFound, match="no such volume: a"):
        store.remove("a")
    assert store.prune({"label": ["keep=2"]}) == []
    assert store.prune() == ["b"]
    assert store.all() == []


def test_bad_names_and_options(store: VolumeStore) -> None:
    with pytest.raises(UsageError, match="invalid volume name"):
        store.create("../etc")
    with pytest.raises(UsageError, match="unsupported volume option 'type'"):
        store.create("x", options={"type": "nfs"})
    with pytest.raises(UsageError, match="not a number"):
        parse_options({"o": "uid=root"})
    assert parse_options({"o": "uid=5,gid=6,mode=0700"}) == {"uid": 5, "gid": 6, "mode": 0o700}
    with pytest.raises(NotFound):
        store.get("missing")


def test_filters() -> None:
    v = Volume("web-data", "/m", "t", labels={"tier": "db", "x": ""})
    assert matches(v, parse_filters(["name=data", "label=tier=db", "label=x"]), in_use=False)
    assert not matches(v, parse_filters(["label=tier=web"]), in_use=False)
    assert matches(v, parse_filters(["dangling=true"]), in_use=False)
    assert not matches(v, parse_filters(["dangling=true"]), in_use=True)
    assert not matches(v, parse_filters(["driver=nfs"]), in_use=False)
    with pytest.raises(UsageError, match="invalid filter"):
        parse_filters(["colour=red"])
    with pytest.raises(UsageError, match="true or false"):
        matches(v, parse_filters(["dangling=maybe"]), in_use=False)
