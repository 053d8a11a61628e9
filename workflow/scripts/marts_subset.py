"""Write a smaller MARTS-DB export: whole enzymes (every reaction row of each) from a bigger one.

Enzymes are taken by ``Enzyme_marts_ID`` in order of first appearance: the first ``--first``
of them, or every ``--stride``-th (``--stride 6`` keeps enzymes 0, 6, 12, ...). The rows keep
their order and every column. The test configurations in ``.test/`` were written with it
from ``resources/demo/marts_db.csv`` (their README gives the commands, a test rebuilds them):

    python workflow/scripts/marts_subset.py --input resources/demo/marts_db.csv \
        --stride 6 --output .test/ci_slurm/marts_subset.csv
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Subset:
    enzymes: int  # distinct Enzyme_marts_ID kept
    sequences: int  # distinct (normalised) sequences among them
    rows: int  # reaction rows written


def write_subset(
    source: Path, destination: Path, *, first: int | None = None, stride: int | None = None
) -> Subset:
    """Keep the first ``first`` enzymes, or every ``stride``-th one, with all their rows."""
    if (first is None) == (stride is None):
        raise ValueError("give exactly one of first= or stride=")
    if (first is not None and first < 1) or (stride is not None and stride < 1):
        raise ValueError("first and stride must be at least 1")
    with Path(source).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames
    if not columns or "Enzyme_marts_ID" not in columns:
        raise ValueError(f"{source}: not a MARTS-DB export (no Enzyme_marts_ID column)")
    order = list(dict.fromkeys(row["Enzyme_marts_ID"] for row in rows))
    chosen = set(order[:first] if first is not None else order[::stride])
    kept = [row for row in rows if row["Enzyme_marts_ID"] in chosen]
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with destination.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
    sequences = {row["Aminoacid_sequence"].strip().upper().rstrip("*") for row in kept}
    return Subset(enzymes=len(chosen), sequences=len(sequences), rows=len(kept))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, type=Path, help="MARTS-DB reactions export")
    parser.add_argument("--output", required=True, type=Path)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--first", type=int, help="keep the first N enzymes")
    which.add_argument("--stride", type=int, help="keep every N-th enzyme")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    subset = write_subset(args.input, args.output, first=args.first, stride=args.stride)
    print(
        f"wrote {args.output}: {subset.enzymes} enzymes, {subset.sequences} distinct sequences,"
        f" {subset.rows} reaction rows"
    )


if __name__ == "__main__":
    main()
