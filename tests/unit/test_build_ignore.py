""".dockerignore matching (Docker's patternmatcher rules)."""

from __future__ import annotations

import pytest

from rootless.build.ignore import IgnoreMatcher


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        ("*.log", "a.log", True),
        ("*.log", "dir/a.log", False),  # `*` stays in one path element
        ("**/*.log", "dir/sub/a.log", True),
        ("**/*.log", "a.log", True),  # `**/` also matches no directory
        ("build", "build/x/y.o", True),  # a matched directory hides what is inside
        ("/build", "build", True),  # leading slash dropped
        ("./docs/../build", "build", True),  # cleaned
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[ab]x", "bx", True),
        ("[^ab]x", "bx", False),
        ("[^ab]x", "cx", True),
        ("*\n!keep.log", "keep.log", False),
        ("*.log\n!keep.log\nkeep.log", "keep.log", True),  # the last match wins
        ("# comment\n\n  secret.txt  ", "secret.txt", True),
        ("secret.txt", "other.txt", False),
        ("docs/**", "docs/a/b.md", True),
        ("docs/**", "docsx", False),
    ],
)
def test_patterns(patterns: str, path: str, excluded: bool) -> None:
    assert IgnoreMatcher.from_text(patterns).excluded(path) is excluded


def test_root_is_never_excluded() -> None:
    m = IgnoreMatcher.from_text("*")
    assert not m.excluded(".")
    assert m.excluded("anything")


def test_exception_below_excluded_dir_is_reachable() -> None:
    m = IgnoreMatcher.from_text("data\n!data/keep.txt")
    assert m.excluded("data/drop.txt")
    assert not m.excluded("data/keep.txt")
    assert m.may_contain_included("data")
