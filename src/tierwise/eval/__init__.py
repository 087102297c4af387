"""Offline cost-quality evaluation of routers on datasets with per-prompt, per-model scores."""
