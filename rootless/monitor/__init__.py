"""The per-container monitor (our conmon): a small detached process per container.

It imports only the standard library (no click, no engine), so it starts fast and stays
small. The engine starts it with `python -S rootless/monitor/__main__.py --go FD FD`; it reads
`monitor-args.marshal` there. See protocol.py for the attach socket and status pipe.
"""
