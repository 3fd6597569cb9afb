"""An OCI runtime (Linux) in Python with runc's command line: `rootless-runtime`.

Standalone: imports nothing from rootless.engine. See docs/runtime.md.
"""
