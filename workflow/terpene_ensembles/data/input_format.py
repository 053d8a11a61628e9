"""What an input file is (the one detector): protein FASTA, nucleotide FASTA, GenBank, EMBL
or a MARTS-DB reactions export.

The parse stage, ``predict`` and the workflow (``common.smk``, to know whether a predict
input has labels) all decide here, so a file one of them accepts as an export the others
accept too: comma, tab or semicolon separated (a spreadsheet may re-save the CSV download
either way), column names in any case, plain or gzipped, with or without a byte-order
mark. FASTA is protein or nucleotide by content (:func:`fasta_kind`), never by name.
Standard library only: Snakemake reads this module while it parses the workflow.
"""

from __future__ import annotations

import csv
import gzip
import os

FASTA = "fasta"  # protein FASTA
NUCLEOTIDE_FASTA = "nucleotide_fasta"  # contigs or genomes: genes are called (pyrodigal)
GENBANK = "genbank"
EMBL = "embl"
MARTS = "marts"
# Inputs whose proteins sit on a genome (coordinates kept; GFF3 and candidates.faa written).
GENOME_FORMATS = (NUCLEOTIDE_FASTA, GENBANK, EMBL)
# Inputs of annotated records (Biopython reads them; an annotated GenBank copy is written).
ANNOTATED_FORMATS = (GENBANK, EMBL)

# A record is nucleotide when at least this share of its letters is A/C/G/T/U/N (case
# ignored): a protein has about a quarter, a contig with some ambiguity codes nearly all.
NUCLEOTIDE_SHARE = 0.9
NUCLEOTIDE_LETTERS = frozenset("ACGTUN")
# How much of a FASTA file the detector reads to tell protein from nucleotide.
SNIFF_RECORDS = 200
SNIFF_RESIDUES = 1_000_000

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
    """FASTA, GENBANK, EMBL or MARTS from a file's first non-blank line; None when it is
    none of them (FASTA here means either kind; :func:`detect_format` tells which)."""
    if line.startswith(">"):
        return FASTA
    if line.startswith("LOCUS "):
        return GENBANK
    if line.startswith("ID   "):
        return EMBL
    if is_marts_header(line):
        return MARTS
    return None


def looks_nucleotide(sequence: str) -> bool:
    """True when at least NUCLEOTIDE_SHARE of the letters are A/C/G/T/U/N (any case)."""
    upper = sequence.upper()
    # Counted with str methods (C loops): every protein record of a proteome passes here.
    if upper.isalpha():
        letters = len(upper)
    else:
        letters = sum(c.isalpha() for c in upper)
    if not letters:
        return False
    nucleotides = sum(upper.count(letter) for letter in NUCLEOTIDE_LETTERS)
    return nucleotides >= NUCLEOTIDE_SHARE * letters


def fasta_kind(path: str | os.PathLike) -> str:
    """NUCLEOTIDE_FASTA or FASTA (protein) from the first records of a FASTA file.

    Each of the first SNIFF_RECORDS records (at most SNIFF_RESIDUES letters in all) votes
    nucleotide or protein; nucleotide wins only with more votes, so a protein file with a
    pasted DNA record stays protein (that record is rejected, and the reverse likewise).
    """
    votes = {True: 0, False: 0}
    read = 0
    current: list[str] = []

    def vote():
        if current:
            votes[looks_nucleotide("".join(current))] += 1

    with open_text(path) as handle:
        for line in handle:
            if line.startswith(">"):
                vote()
                current = []
                if sum(votes.values()) >= SNIFF_RECORDS or read >= SNIFF_RESIDUES:
                    break
                continue
            stripped = line.strip()
            current.append(stripped)
            read += len(stripped)
        else:
            vote()
    return NUCLEOTIDE_FASTA if votes[True] > votes[False] else FASTA


def detect_format(path: str | os.PathLike) -> str | None:
    """The input's format from its content (None when it is none of the known formats).

    Raises OSError, UnicodeDecodeError, gzip.BadGzipFile or EOFError for unreadable input.
    """
    found = format_of_line(first_line(path))
    if found == FASTA:
        return fasta_kind(path)
    return found
