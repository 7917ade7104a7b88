"""Sharing a vault: push, pull and merge, the git command and remotes, blob transports, archives."""
