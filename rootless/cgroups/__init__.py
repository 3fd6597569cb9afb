"""cgroup v2 delegation: detect, create, limit, stats."""
