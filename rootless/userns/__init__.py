"""The user's user namespace: subuid/subgid maps, the pause process, joining it."""
