"""An overlay filesystem in user space on the fusepy API."""
