"""Containers turn one artifact into many: directories, zip, (later) tar, 7z, compressed wrappers."""
