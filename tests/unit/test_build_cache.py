"""The layer cache index and its keys."""

from __future__ import annotations

from pathlib import Path

from rootless.build.cache import NO_LAYER, BuildCache, LayerRef, step_key


def test_keys_chain_and_separate_parts() -> None:
    assert step_key("p", "a", "b") == step_key("p", "a", "b")
    assert step_key("p", "a", "b") != step_key("p", "ab")  # parts are delimited
    assert step_key("p", "a") != step_key("q", "a")  # the parent is part of the key


def test_roundtrip_and_missing(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "build")
    assert cache.get("k") is None and cache.get_image("k") is None
    layer = LayerRef("c" * 64, "sha256:" + "d" * 64, "sha256:" + "e" * 64, "tar", 10)
    cache.put("k", layer)
    cache.put("empty", NO_LAYER)
    cache.put_image("final", "f" * 64)
    again = BuildCache(tmp_path / "build")  # another process reads the same file
    assert again.get("k") == layer
    assert again.get("empty") == NO_LAYER
    assert again.get_image("final") == "f" * 64
    (tmp_path / "build" / "cache.json").write_text("not json")
    assert again.get("k") is None  # a broken index is a miss, not a crash
