"""Distribution-spec client: pull, push, login; registries.conf and auth.json."""
