"""Streaming input for screening: FASTA (plain or gzipped) or a MARTS-DB export.

Records are validated one at a time; a bad record becomes a row of the rejection table
with its reason instead of stopping the run, and nothing is dropped without a row. Input
that is not a sequence file at all (wrong format, empty file) is a clear error instead.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from Bio import SeqIO

from terpene_ensembles.data.input_format import (
    FASTA,
    SIGNATURE_COLUMNS,
    first_line,
    format_of_line,
    open_text,
)
from terpene_ensembles.data.marts import invalid_residues, normalize_sequence
from terpene_ensembles.errors import UserInputError
from terpene_ensembles.io_utils import sha256_text

NUCLEOTIDE_ALPHABET = frozenset("ACGTUN")
# A sequence made only of nucleotide letters and at least this long is a DNA/RNA record
# pasted by mistake (a real protein of this length always uses other residues).
MIN_NUCLEOTIDE_LOOKING_LENGTH = 30

REJECTION_COLUMNS = ["record", "id", "reason", "detail"]


class InputFormatError(UserInputError, ValueError):
    """The input file as a whole cannot be read as FASTA or as a MARTS-DB export."""

    fix = "give a FASTA file (plain or .gz) or a MARTS-DB reactions export (CSV)"


@dataclass(frozen=True)
class SequenceRecord:
    record: int  # 1-based position of the record in the input
    id: str
    description: str
    sequence: str  # uppercase, validated, terminal stop removed
    kingdom: str = ""  # MARTS-DB kingdom when known (a model feature), else ""

    @property
    def sequence_sha256(self) -> str:
        return sha256_text(self.sequence)


@dataclass(frozen=True)
class Rejection:
    record: int
    id: str
    reason: str
    detail: str

    def as_row(self) -> dict:
        return {"record": self.record, "id": self.id, "reason": self.reason, "detail": self.detail}


def detect_input_format(path: str | os.PathLike) -> str:
    """Return FASTA or MARTS from the file's first non-blank line, or raise InputFormatError."""
    path = Path(path)
    if not path.is_file():
        raise InputFormatError(f"input {path} does not exist or is not a file")
    try:
        line = first_line(path)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as error:
        raise InputFormatError(
            f"input {path} is not FASTA text or a MARTS-DB CSV export (unreadable as "
            f"UTF-8 text: {error})"
        ) from error
    if not line:
        raise InputFormatError(f"input {path} is empty: no FASTA records and no CSV header")
    found = format_of_line(line)
    if found is None:
        raise InputFormatError(
            f"input {path} is not FASTA (first line does not start with '>': "
            f"{line[:60]!r}) and not a MARTS-DB export (header lacks "
            f"{', '.join(SIGNATURE_COLUMNS)})"
        )
    return found


def clean_sequence(raw: str) -> tuple[str, str | None, str]:
    """Normalise one sequence; return (sequence, rejection reason or None, detail).

    The parse stage's normalisation and alphabet (uppercase, whitespace and terminal stops
    removed). Reasons: empty_sequence, internal_stop, invalid_residues, nucleotide_sequence.
    """
    sequence = normalize_sequence(raw)
    if not sequence:
        return "", "empty_sequence", "record has a header but no residues"
    if "*" in sequence:
        return sequence, "internal_stop", f"stop codon '*' at position {sequence.index('*') + 1}"
    invalid = invalid_residues(sequence)
    if invalid:
        return (
            sequence,
            "invalid_residues",
            "characters not in the protein alphabet: " + "".join(invalid),
        )
    if len(sequence) >= MIN_NUCLEOTIDE_LOOKING_LENGTH and set(sequence) <= NUCLEOTIDE_ALPHABET:
        return sequence, "nucleotide_sequence", "only A/C/G/T/U/N: a DNA or RNA sequence?"
    return sequence, None, ""


def iter_fasta(
    path: str | os.PathLike, rejections: list[Rejection] | None = None
) -> Iterator[SequenceRecord]:
    """Stream validated records of a FASTA file (plain or gzipped).

    Bad records are appended to ``rejections`` (reasons: missing_id, duplicate_id and those of
    :func:`clean_sequence`) and not yielded. Only the set of ids seen is kept in memory.
    """
    if detect_input_format(path) != FASTA:
        raise InputFormatError(f"input {path} is a MARTS-DB export, not FASTA")
    sink = rejections if rejections is not None else []
    seen_ids: set[str] = set()
    with open_text(path) as handle:
        try:
            for number, entry in enumerate(SeqIO.parse(handle, "fasta"), start=1):
                record_id = entry.id.strip()
                if not record_id:
                    sink.append(Rejection(number, "", "missing_id", "header line '>' has no id"))
                    continue
                if record_id in seen_ids:
                    sink.append(
                        Rejection(number, record_id, "duplicate_id", "id already used earlier")
                    )
                    continue
                seen_ids.add(record_id)
                sequence, reason, detail = clean_sequence(str(entry.seq))
                if reason:
                    sink.append(Rejection(number, record_id, reason, detail))
                    continue
                yield SequenceRecord(number, record_id, entry.description, sequence)
        except UnicodeDecodeError as error:
            raise InputFormatError(f"input {path} is not UTF-8 text: {error}") from error


def chunked(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of at most ``size`` items, so only one chunk is held at a time."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
