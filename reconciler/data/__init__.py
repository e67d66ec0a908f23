"""Datasets for real: loading, content hashes, splits and data checks."""
