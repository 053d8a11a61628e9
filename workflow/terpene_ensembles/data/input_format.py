"""What an input file is: FASTA, or a MARTS-DB reactions export (the one detector).

The parse stage, ``predict`` and the workflow (``common.smk``, to know whether a predict
input has labels) all decide here, so a file one of them accepts as an export the others
accept too: comma, tab or semicolon separated (a spreadsheet may re-save the CSV download
either way), column names in any case, plain or gzipped, with or without a byte-order
mark. Standard library only: Snakemake reads this module while it parses the workflow.
"""

from __future__ import annotations

import csv
import gzip
import os

FASTA = "fasta"
MARTS = "marts"

# Columns the parse stage reads; a file without them is not a MARTS-DB reactions export.
REQUIRED_COLUMNS = (
    "Enzyme_marts_ID",
    "Enzyme_name",
    "Aminoacid_sequence",
    "Species",
    "Kingdom",
    "Type",
    "Substrate_name",
    "Substrate_smiles",
    "Product_name",
    "Product_smiles",
)
# Read when present (older or trimmed exports may lack them); filled with "" otherwise.
OPTIONAL_COLUMNS = ("Uniprot_ID", "Genbank_ID", "Product_yield")
# Columns that identify a MARTS-DB reactions export in a header.
SIGNATURE_COLUMNS = ("Enzyme_marts_ID", "Aminoacid_sequence", "Product_smiles")
SEPARATORS = (",", "\t", ";")


def open_text(path: str | os.PathLike, newline: str | None = None):
    """Open plain or gzipped UTF-8 text (a byte-order mark dropped); gzip is recognised by
    its magic bytes, not the name."""
    with open(path, "rb") as raw:
        magic = raw.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline=newline)
    return open(path, encoding="utf-8-sig", newline=newline)


def delimiter(header: str) -> str:
    """The separator of a MARTS-DB header line: the one that yields most known columns
    (ties keep ',', the CSV download's)."""
    wanted = {column.lower() for column in REQUIRED_COLUMNS}
    lowered = header.lower()

    def found(separator: str) -> int:
        return len(wanted & {cell.strip().strip('"') for cell in lowered.split(separator)})

    return max(SEPARATORS, key=found)


def header_columns(header: str) -> list[str]:
    """The column names of a header line, lowercase, split at its separator."""
    header = header.strip().lstrip("\ufeff")
    cells = next(csv.reader([header], delimiter=delimiter(header)), [])
    return [cell.strip().lower() for cell in cells]


def is_marts_header(header: str) -> bool:
    columns = set(header_columns(header))
    return all(column.lower() in columns for column in SIGNATURE_COLUMNS)


def first_line(path: str | os.PathLike) -> str:
    """The first non-blank line, stripped ('' for an empty file).

    Raises OSError, UnicodeDecodeError, gzip.BadGzipFile or EOFError for unreadable input.
    """
    with open_text(path) as handle:
        return next((line.strip() for line in handle if line.strip()), "")


def format_of_line(line: str) -> str | None:
    """FASTA or MARTS from a file's first non-blank line; None when it is neither."""
    if line.startswith(">"):
        return FASTA
    if is_marts_header(line):
        return MARTS
    return None
