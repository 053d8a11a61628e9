"""Streaming input for screening: protein FASTA (plain or gzipped), a MARTS-DB export, or
a genome (nucleotide FASTA, GenBank, EMBL: proteins from data.genome_input).

Records are validated one at a time; a bad record becomes a row of the rejection table
with its reason instead of stopping the run, and nothing is dropped without a row. Input
that is not a sequence file at all (wrong format, empty file) is a clear error instead.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TextIO

from Bio import SeqIO

from terpene_ensembles.data.input_format import (
    FASTA,
    MARTS,
    SIGNATURE_COLUMNS,
    detect_format,
    looks_nucleotide,
    open_text,
)
from terpene_ensembles.data.marts import invalid_residues, normalize_sequence
from terpene_ensembles.errors import UserInputError
from terpene_ensembles.io_utils import sha256_text

# A sequence this long made (almost) only of nucleotide letters is a DNA/RNA record pasted
# by mistake (a real protein of this length always uses other residues).
MIN_NUCLEOTIDE_LOOKING_LENGTH = 30
# Errors of a gzip stream that ends early or is corrupt (raised while reading, not opening).
GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)

REJECTION_COLUMNS = ["record", "id", "reason", "detail"]


class InputFormatError(UserInputError, ValueError):
    """The input file as a whole cannot be read as FASTA or as a MARTS-DB export."""

    fix = (
        "give a FASTA file (protein or nucleotide, plain or .gz), a GenBank or EMBL file, or "
        "a MARTS-DB reactions export (CSV)"
    )


@dataclass(frozen=True)
class Locus:
    """Where a protein's gene lies: 1-based inclusive coordinates on ``contig``.

    ``segments`` lists the exons in transcription order ("start-end,start-end"); one
    segment for a called gene, several for a GenBank join.
    """

    contig: str
    contig_length: int
    start: int
    end: int
    strand: str  # "+" or "-"
    segments: str

    def segment_list(self) -> list[tuple[int, int]]:
        return [tuple(int(x) for x in part.split("-")) for part in self.segments.split(",")]


@dataclass(frozen=True)
class SequenceRecord:
    # 1-based position of the record in the input (genome input: among the called proteins
    # and the rejected contigs, in input order)
    record: int
    id: str
    description: str
    sequence: str  # uppercase, validated, terminal stop removed
    kingdom: str = ""  # MARTS-DB kingdom when known (a model feature), else ""
    locus: Locus | None = None  # genome input only
    # The Pfam domain feature columns and alignment-position strings of the sequence, when
    # the TPS prefilter's profile pass has computed them (it runs the very hmmsearch the
    # features need; predict then does not run it again). Not part of the record's identity.
    profile_features: dict | None = field(default=None, compare=False, repr=False)

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
    """The input's format by content (input_format: FASTA, NUCLEOTIDE_FASTA, GENBANK, EMBL or
    MARTS), or raise InputFormatError."""
    path = Path(path)
    if not path.is_file():
        raise InputFormatError(f"input {path} does not exist or is not a file")
    try:
        found = detect_format(path)
    except UnicodeDecodeError as error:
        raise InputFormatError(
            f"input {path} is not FASTA/GenBank/EMBL text or a MARTS-DB CSV export "
            f"(unreadable as UTF-8 text: {error})"
        ) from error
    except GZIP_ERRORS as error:
        raise InputFormatError(
            f"input {path} is a truncated or corrupt gzip file ({error}); compress it again"
        ) from error
    if found is None:
        with open_text(path) as handle:
            line = next((line.strip() for line in handle if line.strip()), "")
        if not line:
            raise InputFormatError(f"input {path} is empty: no records and no CSV header")
        raise InputFormatError(
            f"input {path} is not FASTA (first line does not start with '>': "
            f"{line[:60]!r}), not GenBank ('LOCUS') or EMBL ('ID'), and not a MARTS-DB "
            f"export (header lacks {', '.join(SIGNATURE_COLUMNS)})"
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
    if len(sequence) >= MIN_NUCLEOTIDE_LOOKING_LENGTH and looks_nucleotide(sequence):
        return (
            sequence,
            "nucleotide_sequence",
            "A/C/G/T/U/N (and ambiguity codes) only: a DNA or RNA sequence in a protein file?",
        )
    return sequence, None, ""


@contextmanager
def open_records(path: str | os.PathLike, input_format: str | None = None) -> Iterator[TextIO]:
    """open_text(path) for a parser: text that is not UTF-8, a truncated or corrupt gzip
    and (with ``input_format`` named) Biopython's ValueError on a malformed record are
    raised as InputFormatError with the input's name."""
    with open_text(path) as handle:
        try:
            yield handle
        except UnicodeDecodeError as error:
            raise InputFormatError(f"input {path} is not UTF-8 text: {error}") from error
        except GZIP_ERRORS as error:
            raise InputFormatError(
                f"input {path} is a truncated or corrupt gzip file ({error}); compress it again"
            ) from error
        except ValueError as error:
            if input_format is None or isinstance(error, InputFormatError):
                raise
            raise InputFormatError(f"input {path} is not valid {input_format}: {error}") from error


def iter_fasta(
    path: str | os.PathLike, rejections: list[Rejection] | None = None
) -> Iterator[SequenceRecord]:
    """Stream validated records of a FASTA file (plain or gzipped).

    Bad records are appended to ``rejections`` (reasons: missing_id, duplicate_id and those of
    :func:`clean_sequence`) and not yielded. Only the set of ids seen is kept in memory.
    """
    found = detect_input_format(path)
    if found != FASTA:
        name = "a MARTS-DB export" if found == MARTS else found
        raise InputFormatError(f"input {path} is {name}, not protein FASTA")
    sink = rejections if rejections is not None else []
    seen_ids: set[str] = set()
    with open_records(path) as handle:
        for number, entry in enumerate(SeqIO.parse(handle, "fasta"), start=1):
            record_id = entry.id.strip()
            if not record_id:
                sink.append(Rejection(number, "", "missing_id", "header line '>' has no id"))
                continue
            if record_id in seen_ids:
                sink.append(Rejection(number, record_id, "duplicate_id", "id already used earlier"))
                continue
            seen_ids.add(record_id)
            sequence, reason, detail = clean_sequence(str(entry.seq))
            if reason:
                sink.append(Rejection(number, record_id, reason, detail))
                continue
            yield SequenceRecord(number, record_id, entry.description, sequence)


def iter_records(
    path: str | os.PathLike,
    rejections: list[Rejection] | None = None,
    gene_calling=None,
    stats: dict | None = None,
) -> Iterator[SequenceRecord]:
    """Proteins of a protein FASTA, nucleotide FASTA, GenBank or EMBL file, validated.

    ``gene_calling``: genome_input.GeneCalling (mode, genetic code, threads) for nucleotide
    input; ``stats`` receives the genome counts (contigs, genes called, mode). A MARTS-DB
    export is refused here (it is parsed whole, with labels)."""
    from terpene_ensembles.data import genome_input
    from terpene_ensembles.data.input_format import EMBL, GENBANK, NUCLEOTIDE_FASTA

    found = detect_input_format(path)
    sink = rejections if rejections is not None else []
    if found == FASTA:
        return iter_fasta(path, sink)
    if found == NUCLEOTIDE_FASTA:
        settings = gene_calling or genome_input.GeneCalling()
        return genome_input.iter_called_genes(path, sink, settings, stats)
    if found in (GENBANK, EMBL):
        settings = gene_calling or genome_input.GeneCalling()
        return genome_input.iter_annotated_cds(path, found, sink, settings, stats)
    raise InputFormatError(f"input {path} is a MARTS-DB export, not a sequence file")


def chunked(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of at most ``size`` items, so only one chunk is held at a time."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
