"""MMseqs2 homology searches and the homology-aware split."""
