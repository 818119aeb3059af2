"""Backends: a Typesense cluster — collections as generations, the same query layer above it."""
