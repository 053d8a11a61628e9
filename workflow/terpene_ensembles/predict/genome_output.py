"""Outputs placed on the genome (nucleotide FASTA, GenBank or EMBL input).

``genes.tsv`` (every protein of the input with its coordinates), ``candidates.faa`` (the
TPS candidates' proteins), ``predictions.gff3`` (one feature per predicted candidate, GFF3
as specified by the Sequence Ontology: https://github.com/The-Sequence-Ontology/
Specifications/blob/master/gff3.md) and, for GenBank/EMBL input, ``annotated.gbk`` (the
input with a feature per candidate). Protein FASTA and MARTS-DB inputs have no coordinates
and none of these files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from terpene_ensembles.data.sequence_input import Locus, SequenceRecord
from terpene_ensembles.io_utils import AtomicTsvWriter, atomic_path

GENE_COLUMNS = ["record", "id", "contig", "contig_length", "start", "end", "strand", "segments"]
GENES_FILE = "genes.tsv"
CANDIDATES_FILE = "candidates.faa"
GFF3_FILE = "predictions.gff3"
GENBANK_FILE = "annotated.gbk"
GFF3_SOURCE = "terpene_ensembles"
FASTA_WIDTH = 60
# Characters GFF3 allows unescaped in a seqid (the specification's column 1).
SEQID_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:^*$@!+_?-|")
# Characters with a meaning in column 9, escaped in attribute values (plus controls).
ATTRIBUTE_RESERVED = frozenset(";=&,%\t\n\r")


class GeneTableWriter(AtomicTsvWriter):
    """genes.tsv: one row per valid protein of a genome input, as the records stream by."""

    columns = GENE_COLUMNS

    def tee(self, records: Iterable[SequenceRecord]) -> Iterator[SequenceRecord]:
        for record in records:
            locus = record.locus
            self.write_row(
                [
                    record.record,
                    record.id,
                    locus.contig,
                    locus.contig_length,
                    locus.start,
                    locus.end,
                    locus.strand,
                    locus.segments,
                ]
            )
            yield record


class CandidateFastaWriter:
    """candidates.faa: the TPS candidates' proteins (header: id contig:start-end(strand))."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __enter__(self) -> CandidateFastaWriter:
        self._atomic = atomic_path(self.path)
        self._handle = open(self._atomic.__enter__(), "w")
        return self

    def tee(self, records: Iterable[SequenceRecord]) -> Iterator[SequenceRecord]:
        for record in records:
            locus = record.locus
            where = f" {locus.contig}:{locus.start}-{locus.end}({locus.strand})" if locus else ""
            self._handle.write(f">{record.id}{where}\n")
            for start in range(0, len(record.sequence), FASTA_WIDTH):
                self._handle.write(record.sequence[start : start + FASTA_WIDTH] + "\n")
            yield record

    def __exit__(self, *exc_info) -> bool:
        self._handle.close()
        return self._atomic.__exit__(*exc_info)


def read_genes(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_csv(
        path, sep="\t", dtype={"id": str, "contig": str, "strand": str, "segments": str}
    )


def escape(text: str, safe: frozenset[str] | None = None) -> str:
    """Percent-encode GFF3 reserved and control characters (seqid: all but ``safe``)."""
    out = []
    for char in str(text):
        unsafe = char not in safe if safe is not None else char in ATTRIBUTE_RESERVED
        out.append(f"%{ord(char):02X}" if unsafe or ord(char) < 32 or ord(char) == 127 else char)
    return "".join(out)


def as_list(value) -> list:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return list(value)


def candidate_attributes(row) -> dict[str, list[str]]:
    """Column 9 of a candidate: called ensembles, top-3 and probabilities, nearest
    characterised enzymes and identity, TPS domains, the out-of-domain flag."""
    best = float(row.best_identity)
    attributes = {
        "ID": [row.id],
        "Name": [row.id],
        "called_ensembles": as_list(row.called),
        "top3": as_list(row.top3),
        "top3_probability": [f"{p:.4f}" for p in as_list(row.top3_probability)],
        "nearest_training": as_list(row.nearest_training),
        "nearest_identity": [f"{p:.4f}" for p in as_list(row.nearest_identity)],
        "best_identity": [] if np.isnan(best) else [f"{best:.4f}"],
        "tps_domains": as_list(row.tps_domains),
        "out_of_domain": ["true" if row.out_of_domain else "false"],
        "ood_reason": [r for r in str(row.ood_reason or "").split(";") if r],
    }
    return {key: values for key, values in attributes.items() if values}


def gff3_lines(predictions: pd.DataFrame, genes: pd.DataFrame) -> Iterator[str]:
    yield "##gff-version 3"
    contigs = genes.drop_duplicates("contig")[["contig", "contig_length"]]
    for contig, length in contigs.itertuples(index=False):
        yield f"##sequence-region {escape(contig, SEQID_SAFE)} 1 {int(length)}"
    placed = predictions.merge(
        genes[["record", "contig", "start", "end", "strand", "segments"]], on="record"
    )
    order = {contig: i for i, contig in enumerate(contigs["contig"])}
    placed = placed.assign(contig_order=placed["contig"].map(order)).sort_values(
        ["contig_order", "start", "record"], kind="stable"
    )
    for row in placed.itertuples(index=False):
        top = as_list(row.top3_probability)
        score = f"{top[0]:.4f}" if top else "."
        attributes = ";".join(
            f"{key}={','.join(escape(v) for v in values)}"
            for key, values in candidate_attributes(row).items()
        )
        done = 0  # bases of the CDS before this segment, for the phase
        for start, end in Locus(
            row.contig, 0, row.start, row.end, row.strand, row.segments
        ).segment_list():
            phase = (3 - done % 3) % 3
            yield "\t".join(
                [
                    escape(row.contig, SEQID_SAFE),
                    GFF3_SOURCE,
                    "CDS",
                    str(start),
                    str(end),
                    score,
                    row.strand,
                    str(phase),
                    attributes,
                ]
            )
            done += end - start + 1


def write_gff3(predictions: pd.DataFrame, genes: pd.DataFrame, path: str | os.PathLike) -> Path:
    """predictions.gff3: header, a sequence-region per contig, a CDS per candidate."""
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        for line in gff3_lines(predictions, genes):
            handle.write(line + "\n")
    return Path(path)


def feature_location(segments: list[tuple[int, int]], strand: str):
    from Bio.SeqFeature import CompoundLocation, FeatureLocation

    sign = -1 if strand == "-" else 1
    parts = [FeatureLocation(start - 1, end, strand=sign) for start, end in segments]
    return parts[0] if len(parts) == 1 else CompoundLocation(parts)


def write_annotated_genbank(
    input_path: str | os.PathLike,
    input_format: str,
    predictions: pd.DataFrame,
    genes: pd.DataFrame,
    path: str | os.PathLike,
) -> Path:
    """annotated.gbk: the GenBank/EMBL input with a ``misc_feature`` per TPS candidate
    (its calls as qualifiers), records and their own features unchanged."""
    from Bio import SeqIO
    from Bio.SeqFeature import SeqFeature

    from terpene_ensembles.data.input_format import open_text

    placed = predictions.merge(genes[["record", "contig", "strand", "segments"]], on="record")
    by_contig = {contig: frame for contig, frame in placed.groupby("contig", sort=False)}

    def annotated(records):
        for record in records:
            contig = record.id if record.id and record.id != "<unknown id>" else record.name
            for row in by_contig.get(contig, pd.DataFrame()).itertuples(index=False):
                attributes = candidate_attributes(row)
                qualifiers = {"label": [row.id], "note": ["TPS candidate (terpene_ensembles)"]}
                for key, values in attributes.items():
                    if key not in ("ID", "Name"):
                        qualifiers[f"tps_{key}"] = [",".join(values)]
                segments = [tuple(map(int, s.split("-"))) for s in row.segments.split(",")]
                record.features.append(
                    SeqFeature(
                        feature_location(segments, row.strand),
                        type="misc_feature",
                        qualifiers=qualifiers,
                    )
                )
            record.annotations.setdefault("molecule_type", "DNA")
            yield record

    with (
        open_text(input_path) as source,
        atomic_path(path) as tmp,
        open(tmp, "w") as handle,
    ):
        SeqIO.write(annotated(SeqIO.parse(source, input_format)), handle, "genbank")
    return Path(path)


def write_genome_outputs(
    outdir: str | os.PathLike,
    input_path: str | os.PathLike,
    input_format: str,
    genes_path: str | os.PathLike | None = None,
) -> list[Path]:
    """predictions.gff3 (and annotated.gbk for GenBank/EMBL input) from the run's
    predictions.parquet and genes.tsv."""
    from terpene_ensembles.data.input_format import ANNOTATED_FORMATS

    outdir = Path(outdir)
    predictions = pd.read_parquet(outdir / "predictions.parquet")
    genes = read_genes(genes_path or outdir / GENES_FILE)
    written = [write_gff3(predictions, genes, outdir / GFF3_FILE)]
    if input_format in ANNOTATED_FORMATS:
        written.append(
            write_annotated_genbank(
                input_path, input_format, predictions, genes, outdir / GENBANK_FILE
            )
        )
    return written
