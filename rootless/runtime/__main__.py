"""python -m rootless.runtime == rootless-runtime."""

from rootless.runtime.cli import main

if __name__ == "__main__":
    main()
