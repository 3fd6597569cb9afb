"""cli.main defers `inspect` (imported by dataclasses only for classes without a
docstring): start-up skips it, and whoever does use it still gets the real module."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
from rootless.cli.main import _defer_inspect
_defer_inspect()
import dataclasses
assert "ast" not in sys.modules and "dis" not in sys.modules, "inspect ran at import"

@dataclasses.dataclass
class Documented:
    '''Has its own docstring: no signature needed.'''
    x: int

assert "ast" not in sys.modules, "a documented dataclass needed inspect"

@dataclasses.dataclass
class Bare:
    y: int

assert Bare.__doc__ == "Bare(y: int)", Bare.__doc__  # dataclasses got the real inspect
import inspect
assert inspect.isclass(Bare) and str(inspect.signature(Bare)) == "(y: int) -> None"
from inspect import getsource
assert sys.modules["inspect"].getsource is getsource
print("ok")
"""


def test_inspect_is_deferred_until_used() -> None:
    p = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "ok\n"
