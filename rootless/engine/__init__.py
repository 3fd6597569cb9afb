"""The engine facade: what the CLI, compose and tests call."""
