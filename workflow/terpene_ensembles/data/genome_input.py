"""Proteins of a genome: genes called in nucleotide FASTA, or the CDS of GenBank/EMBL.

Nucleotide FASTA (contigs, complete genomes, metagenome assemblies) gets its genes called
with pyrodigal (Prodigal's algorithm; prokaryotic and metagenomic input: for plant and
fungal genomes give predicted proteins instead). GenBank and EMBL files give their CDS
features: the ``/translation`` qualifier, or the feature translated with its
``transl_table``. Every protein keeps its place on the genome (:class:`Locus`).

Records are numbered in input order among the called proteins and the rejected contigs, so
``records_in = predicted + not_tps + rejected`` counts per called gene. A contig or gene
that yields no protein becomes a rejection with its reason, never a silent drop.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from Bio import SeqIO

from terpene_ensembles.data.input_format import looks_nucleotide
from terpene_ensembles.data.marts import AMINO_ACIDS
from terpene_ensembles.data.sequence_input import (
    InputFormatError,
    Locus,
    Rejection,
    SequenceRecord,
    chunked,
    clean_sequence,
    open_records,
)
from terpene_ensembles.errors import ConfigError

GENE_CALLING_MODES = ("auto", "single", "meta")
# auto: single mode (trained on the input) for one genome's worth of sequence; Prodigal
# recommends >= 100 kb to train on (pyrodigal refuses < 20 kb) and a bacterial genome is
# at most ~16 Mb; anything shorter or longer (short contigs, metagenomes) runs meta mode.
AUTO_SINGLE_MIN_LENGTH = 100_000
AUTO_SINGLE_MAX_LENGTH = 20_000_000
SINGLE_MODE_MIN_LENGTH = 20_000
# Prodigal's shortest edge gene (nt): a contig shorter than this cannot hold a gene.
MIN_GENE_LENGTH = 60
IUPAC_NUCLEOTIDES = frozenset("ACGTUNRYSWKMBDHV")
AMBIGUITY_CODES = frozenset("RYSWKMBDHV")
UNKNOWN_RESIDUE = "X"
# Contigs handed to the gene finder's threads at a time (keeps memory bounded).
CONTIG_BATCH = 64


@dataclass(frozen=True)
class GeneCalling:
    """The predict section's gene-calling keys (settings.PredictConfig) and threads."""

    mode: str = "auto"
    genetic_code: int = 11
    threads: int = 1

    def __post_init__(self):
        import pyrodigal

        if self.mode not in GENE_CALLING_MODES:
            raise ConfigError(
                f"gene calling mode {self.mode!r} is not one of {', '.join(GENE_CALLING_MODES)}",
                where="predict.gene_calling",
            )
        if self.genetic_code not in pyrodigal.TRANSLATION_TABLES:
            raise ConfigError(
                f"genetic code {self.genetic_code} is not an NCBI translation table pyrodigal "
                f"knows ({', '.join(map(str, sorted(pyrodigal.TRANSLATION_TABLES)))})",
                where="predict.genetic_code",
            )


def gene_id(contig: str, start: int, end: int, strand: str) -> str:
    """``<contig>_<start>_<end>_<strand>``, 1-based inclusive, strand + or -."""
    return f"{contig}_{start}_{end}_{strand}"


def check_contig(raw: str) -> tuple[str, str | None, str]:
    """Normalise one nucleotide record; return (sequence, rejection reason or None, detail).

    Uppercase (soft-masked lowercase bases are bases), whitespace removed, U read as T.
    Reasons: empty_sequence, protein_sequence (amino-acid letters in a nucleotide file),
    invalid_bases (other characters).
    """
    sequence = re.sub(r"\s+", "", raw).upper()
    if not sequence:
        return "", "empty_sequence", "record has a header but no bases"
    if not looks_nucleotide(sequence) or set(sequence) - IUPAC_NUCLEOTIDES:
        invalid = sorted(set(sequence) - IUPAC_NUCLEOTIDES)
        if set(sequence.rstrip("*")) <= AMINO_ACIDS:
            return (
                sequence,
                "protein_sequence",
                "amino-acid letters in a nucleotide file: give proteins as a protein FASTA",
            )
        return (
            sequence,
            "invalid_bases",
            "characters not in the IUPAC alphabet: " + "".join(invalid),
        )
    return sequence.replace("U", "T"), None, ""


def read_contigs(path, stats: dict) -> Iterator[tuple[str, str, tuple[str, str] | None]]:
    """(id, sequence, rejection) of every record of a nucleotide FASTA, in order; the
    rejection (reason, detail) is None for a usable contig."""
    seen: set[str] = set()
    with open_records(path) as handle:
        for entry in SeqIO.parse(handle, "fasta"):
            stats["contigs_in"] += 1
            contig = entry.id.strip()
            raw = str(entry.seq)
            sequence, reason, detail = check_contig(raw)
            if not contig:
                reason, detail = "missing_id", "header line '>' has no id"
            elif contig in seen:
                reason, detail = "duplicate_id", "id already used earlier"
            seen.add(contig)
            if reason:
                yield contig, sequence, (reason, detail)
                continue
            if any(c.islower() for c in raw):
                stats["contigs_soft_masked"] += 1
            if AMBIGUITY_CODES & set(sequence):
                stats["contigs_with_ambiguity_codes"] += 1
            yield contig, sequence, None


def valid_sequences(path) -> Iterator[str]:
    return (s for _, s, rejection in read_contigs(path, new_stats()) if rejection is None)


def choose_mode(requested: str, total_length: int) -> str:
    """The pyrodigal mode for ``total_length`` bases of valid contigs."""
    if requested == "auto":
        if AUTO_SINGLE_MIN_LENGTH <= total_length <= AUTO_SINGLE_MAX_LENGTH:
            return "single"
        return "meta"
    if requested == "single" and total_length < SINGLE_MODE_MIN_LENGTH:
        raise InputFormatError(
            f"predict.gene_calling: single needs at least {SINGLE_MODE_MIN_LENGTH} bases to "
            f"train on; the input has {total_length}: use meta (or auto) for short contigs"
        )
    return requested


def gene_finder(path, settings: GeneCalling, stats: dict):
    """A pyrodigal GeneFinder for the input: trained on all its valid contigs (single) or
    with the metagenomic models (meta). Genes never span a run of N (mask)."""
    import pyrodigal

    if settings.mode == "meta":  # no pass over the input needed
        mode = "meta"
    else:
        mode = choose_mode(settings.mode, sum(len(s) for s in valid_sequences(path)))
    stats["gene_calling"] = mode
    if mode == "meta":
        return pyrodigal.GeneFinder(meta=True, mask=True)
    finder = pyrodigal.GeneFinder(meta=False, mask=True)
    finder.train(
        *(s.encode() for s in valid_sequences(path)),
        translation_table=settings.genetic_code,
    )
    return finder


def new_stats() -> dict:
    return {
        "contigs_in": 0,
        "contigs_soft_masked": 0,
        "contigs_with_ambiguity_codes": 0,
        "genes_called": 0,
    }


def iter_called_genes(
    path: str | os.PathLike,
    rejections: list,
    settings: GeneCalling,
    stats: dict | None = None,
) -> Iterator[SequenceRecord]:
    """Proteins of the genes pyrodigal calls in a nucleotide FASTA, in contig order.

    Rejected per contig: those of :func:`check_contig`, missing_id, duplicate_id,
    contig_too_short (shorter than any gene), no_gene_called; per gene: ambiguous_bases
    (a codon with N or an IUPAC ambiguity code, translated X). Partial genes at contig
    edges are kept (a protein without its start)."""
    stats = stats if stats is not None else {}
    stats.update(new_stats())
    stats["genetic_code"] = settings.genetic_code
    finder = gene_finder(path, settings, stats)
    counter = [0]

    def find(item):
        contig, sequence, rejection = item
        genes = finder.find_genes(sequence.encode()) if rejection is None else None
        return contig, sequence, rejection, genes

    with ThreadPoolExecutor(max(1, settings.threads)) as pool:
        for batch in chunked(read_contigs(path, stats), CONTIG_BATCH):
            for contig, sequence, rejection, genes in pool.map(find, batch):
                if rejection is not None:
                    counter[0] += 1
                    rejections.append(Rejection(counter[0], contig, *rejection))
                    continue
                yield from contig_proteins(contig, sequence, genes, rejections, counter, stats)


def contig_proteins(contig, sequence, genes, rejections, counter, stats):
    """The records (and gene rejections) of one contig's called genes."""
    if len(genes) == 0:
        counter[0] += 1
        if len(sequence) < MIN_GENE_LENGTH:
            reason = "contig_too_short"
            detail = f"{len(sequence)} bp, shorter than any gene ({MIN_GENE_LENGTH} bp)"
        else:
            reason = "no_gene_called"
            detail = f"{len(sequence)} bp, no gene found by pyrodigal ({stats['gene_calling']})"
        rejections.append(Rejection(counter[0], contig, reason, detail))
        return
    for gene in genes:
        stats["genes_called"] += 1
        counter[0] += 1
        strand = "+" if gene.strand == 1 else "-"
        start, end = int(gene.begin), int(gene.end)
        identifier = gene_id(contig, start, end, strand)
        protein = gene.translate(include_stop=False, strict=False)
        if UNKNOWN_RESIDUE in protein:
            rejections.append(
                Rejection(
                    counter[0],
                    identifier,
                    "ambiguous_bases",
                    f"{protein.count(UNKNOWN_RESIDUE)} codons with N or IUPAC ambiguity codes",
                )
            )
            continue
        protein, reason, detail = clean_sequence(protein)
        if reason:
            rejections.append(Rejection(counter[0], identifier, reason, detail))
            continue
        partial = "".join(str(int(p)) for p in (gene.partial_begin, gene.partial_end))
        yield SequenceRecord(
            counter[0],
            identifier,
            f"{identifier} partial={partial} start_type={gene.start_type}",
            protein,
            locus=Locus(contig, len(sequence), start, end, strand, f"{start}-{end}"),
        )


def feature_name(feature, contig: str, locus: Locus) -> str:
    for key in ("locus_tag", "protein_id"):
        values = feature.qualifiers.get(key)
        if values and values[0].strip():
            return values[0].strip()
    return gene_id(contig, locus.start, locus.end, locus.strand)


def feature_locus(feature, contig: str, contig_length: int) -> Locus:
    """Coordinates of a CDS (joins kept as segments in transcription order)."""
    parts = feature.location.parts
    strand = "-" if (feature.location.strand or 1) < 0 else "+"
    segments = [(int(p.start) + 1, int(p.end)) for p in parts]
    return Locus(
        contig,
        contig_length,
        min(s for s, _ in segments),
        max(e for _, e in segments),
        strand,
        ",".join(f"{s}-{e}" for s, e in segments),
    )


def translate_feature(feature, record, genetic_code: int) -> str:
    """The CDS's protein: /translation, or the feature translated with its transl_table."""
    from Bio.Data.CodonTable import TranslationError
    from Bio.Seq import UndefinedSequenceError

    translation = feature.qualifiers.get("translation")
    if translation:
        return translation[0]
    table = int(feature.qualifiers.get("transl_table", [genetic_code])[0])
    try:
        bases = feature.extract(record.seq)
        bases = bases[int(feature.qualifiers.get("codon_start", ["1"])[0]) - 1 :]
        bases = bases[: len(bases) // 3 * 3]
        try:
            return str(bases.translate(table=table, cds=True))
        except TranslationError:  # partial or odd CDS: plain translation, checked later
            return str(bases.translate(table=table))
    except UndefinedSequenceError:
        return ""


def iter_annotated_cds(
    path: str | os.PathLike,
    input_format: str,
    rejections: list,
    settings: GeneCalling,
    stats: dict | None = None,
) -> Iterator[SequenceRecord]:
    """Proteins of the CDS features of a GenBank or EMBL file, in file order.

    Rejected: a record without CDS features (no_cds_features), a CDS without translation
    or sequence (empty_sequence), and the reasons of clean_sequence; duplicate names get
    duplicate_id. A file without any CDS feature is an error (call genes on it as FASTA).
    """
    stats = stats if stats is not None else {}
    stats.update({"contigs_in": 0, "cds_in": 0})
    seen: set[str] = set()
    counter = 0
    with open_records(path, input_format) as handle:
        for entry in SeqIO.parse(handle, input_format):
            stats["contigs_in"] += 1
            contig = entry.id if entry.id and entry.id != "<unknown id>" else entry.name
            cds = [f for f in entry.features if f.type == "CDS"]
            if not cds:
                counter += 1
                rejections.append(
                    Rejection(
                        counter,
                        contig,
                        "no_cds_features",
                        "record without CDS features: give its sequence as nucleotide "
                        "FASTA to have genes called",
                    )
                )
                continue
            for feature in cds:
                stats["cds_in"] += 1
                counter += 1
                locus = feature_locus(feature, contig, len(entry.seq))
                name = feature_name(feature, contig, locus)
                if name in seen:
                    rejections.append(
                        Rejection(counter, name, "duplicate_id", "name already used earlier")
                    )
                    continue
                seen.add(name)
                protein = translate_feature(feature, entry, settings.genetic_code)
                protein, reason, detail = clean_sequence(protein)
                if reason:
                    rejections.append(Rejection(counter, name, reason, detail))
                    continue
                product = feature.qualifiers.get("product", [""])[0]
                yield SequenceRecord(counter, name, product, protein, locus=locus)
    if stats["contigs_in"] and not stats["cds_in"]:
        raise InputFormatError(
            f"input {path} ({input_format}) has no CDS features in any of its "
            f"{stats['contigs_in']} records: give the sequence as nucleotide FASTA to have "
            "genes called"
        )
