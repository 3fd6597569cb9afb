"""rootless: a daemonless container engine for ordinary users."""

__version__ = "0.1.0"
