"""A proteome-like FASTA for screening benchmarks and tests.

The TPS are the distinct sequences of a MARTS-DB export (ids ``tps_<n>``). Each decoy
(``decoy_<n>``) is a TPS sequence, drawn at random, with its residues shuffled: same length
distribution and composition as the TPS, but no order, so no real domain. ``decoys_per_tps``
decoys per TPS (100 for the 1:100 dilution of a genome, where about 1% of proteins are
TPS); TPS are reused in turn when the proteome needs more than the export holds, and
records are written in a seeded random order.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np


def export_sequences(marts_csv: str | os.PathLike) -> list[str]:
    """Distinct sequences as the parse stage defines them (stripped, uppercase, no '*')."""
    import pandas as pd

    column = pd.read_csv(marts_csv, usecols=["Aminoacid_sequence"], dtype=str)
    cleaned = column["Aminoacid_sequence"].dropna().str.strip().str.upper().str.rstrip("*")
    return list(dict.fromkeys(s for s in cleaned if s))


def proteome_records(
    tps: list[str], proteins: int, decoys_per_tps: int = 100, seed: int = 0
) -> list[tuple[str, str]]:
    """(id, sequence) of ``proteins`` records: 1 TPS per ``decoys_per_tps`` decoys."""
    if proteins < 1 or not tps:
        raise ValueError("need at least one protein and one TPS sequence")
    rng = np.random.default_rng(seed)
    n_tps = max(1, round(proteins / (decoys_per_tps + 1)))
    records = [(f"tps_{i}", tps[i % len(tps)]) for i in range(n_tps)]
    for i in range(proteins - n_tps):
        source = np.frombuffer(tps[int(rng.integers(len(tps)))].encode(), dtype=np.uint8)
        records.append((f"decoy_{i}", rng.permutation(source).tobytes().decode()))
    order = rng.permutation(len(records))
    return [records[i] for i in order]


def write_proteome(
    path: str | os.PathLike, records: list[tuple[str, str]], width: int = 60
) -> Path:
    """FASTA (gzipped when the name ends in .gz), ``width`` residues per line."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as handle:
        for identifier, sequence in records:
            handle.write(f">{identifier}\n")
            for start in range(0, len(sequence), width):
                handle.write(sequence[start : start + width] + "\n")
    return path
