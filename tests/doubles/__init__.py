"""Faithful, stateful stand-ins for external channels, served on loopback. Tests only."""
