"""Engine: the on-disk structures our codec writes and reads (posting lists, the term table, stored fields)."""
