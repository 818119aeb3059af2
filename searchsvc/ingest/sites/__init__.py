"""Ingest stage: Hexo, Hugo and Jekyll sites — where their posts are and the URL each gets."""
