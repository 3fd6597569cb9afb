"""Entry point: `python -S rootless/monitor/__main__.py --go GO_FD STATUS_FD` (or
`CONTAINER_DIR STATUS_FD`, or `--resume CDIR CODE CLEANED LISTEN_FD [CLIENT_FD...]` from
the C idle monitor, see idle.c)."""

import sys

from rootless.monitor.supervisor import main

if __name__ == "__main__":
    main(sys.argv[1:])
