"""searchsvc: self-hosted full-text search for folders of Chinese posts."""
