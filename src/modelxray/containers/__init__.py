"""Containers turn one artifact into many: zip, tar, 7z and compression wrappers."""
