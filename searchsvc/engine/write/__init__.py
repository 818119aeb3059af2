"""Engine: writing — segments from Posts, full builds in processes, incremental commits."""
