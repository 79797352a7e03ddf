"""Retrieval of student models (and, later, datasets) by BM25 over model metadata."""
