"""User-mode networking: slirp4netns, port forwarding, bridge namespaces, DNS."""
