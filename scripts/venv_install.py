"""Install rootless's dependencies into the running venv and expose SRC without building.

Used by scripts/test.sh: the checkout may be read-only to the test user, so instead of
`pip install -e` (which writes egg-info into the tree) we install the declared
dependencies, add SRC to sys.path with a .pth file and write the console scripts.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path


def main() -> None:
    src = Path(sys.argv[1]).resolve()
    meta = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    deps = list(meta["dependencies"]) + list(meta["optional-dependencies"]["test"])
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *deps], check=True)
    site = Path(sysconfig.get_paths()["purelib"])
    (site / "rootless-src.pth").write_text(f"{src}\n")
    bindir = Path(sys.executable).parent
    for name, target in meta["scripts"].items():
        module, func = target.split(":")
        script = bindir / name
        script.write_text(
            f"#!{sys.executable}\nimport sys\nfrom {module} import {func}\nsys.exit({func}())\n"
        )
        script.chmod(0o755)


if __name__ == "__main__":
    main()
