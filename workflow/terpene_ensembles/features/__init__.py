"""Engineered sequence features, Pfam domains and alignment positions."""
