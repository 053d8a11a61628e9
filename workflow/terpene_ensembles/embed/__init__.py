"""Protein language model (ESM2) embeddings: weights, batching, cache, files."""
