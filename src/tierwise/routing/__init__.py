"""Routing policies: a canonical request in, a `Decision` out. No I/O except in cascades."""
