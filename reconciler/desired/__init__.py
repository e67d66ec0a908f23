"""The desired state: what the specs in git want, resolved, pinned and fingerprinted."""
