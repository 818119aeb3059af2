"""Backends: the engine behind the service — Whoosh in this process, or a Typesense cluster."""
