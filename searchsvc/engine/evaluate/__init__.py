"""Engine: evaluating queries — whole posting lists as arrays, substring phrases, BM25."""
