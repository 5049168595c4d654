"""Realtime plumbing: socket authentication, group names, broadcasts after commit."""
