"""Analysis stage: normalization, segmentation and term units of text (no index, no I/O)."""
