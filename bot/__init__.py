"""Composition root: settings, logging, CLI and the channel adapters."""
