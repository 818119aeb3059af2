"""Ingest stage: a folder of posts -> Posts (front matter, dates, markup, site URL rules) and what the owner keeps back."""
