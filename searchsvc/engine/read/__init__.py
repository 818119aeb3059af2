"""Engine: reading — one shared searcher per commit, files read with pread."""
