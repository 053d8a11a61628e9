"""A proteome-like FASTA and a synthetic genome for screening benchmarks and tests.

The TPS are the distinct sequences of a MARTS-DB export (ids ``tps_<n>``). Each decoy
(``decoy_<n>``) is a TPS sequence, drawn at random, with its residues shuffled: same length
distribution and composition as the TPS, but no order, so no real domain. ``decoys_per_tps``
decoys per TPS (100 for the 1:100 dilution of a genome, where about 1% of proteins are
TPS); TPS are reused in turn when the proteome needs more than the export holds, and
records are written in a seeded random order.

:func:`synthetic_genome` makes random contigs (GC about 0.65) carrying back-translated
proteins (TPS and random-protein genes) on both strands, for the gene-calling route.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
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


# --- a synthetic prokaryotic genome (gene calling tests and bench) ------------------------

GENOME_GC = 0.65
# Upstream of every planted gene: stops in frame (so the caller cannot extend the gene
# upstream), a Shine-Dalgarno motif and a spacer without a start codon in frame.
STOPS_IN_FRAME = "TAATAGTGA"
SHINE_DALGARNO = "AGGAGG"
SPACER = "AATAAC"
STOP_CODONS = ("TAA", "TGA", "TAG")
RANDOM_GENE_RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def reverse_complement(sequence: str) -> str:
    return sequence.translate(COMPLEMENT)[::-1]


def codon_choices(gc: float = GENOME_GC) -> dict[str, tuple[list[str], np.ndarray]]:
    """Synonymous codons of the standard code per amino acid, weighted towards GC-rich
    codons (weight (gc/(1-gc)) ** number of G/C) so genes follow the genome's GC."""
    from Bio.Data.CodonTable import standard_dna_table

    ratio = gc / (1 - gc)
    choices: dict[str, list[str]] = {}
    for codon, residue in standard_dna_table.forward_table.items():
        choices.setdefault(residue, []).append(codon)
    weighted = {}
    for residue, codons in sorted(choices.items()):
        codons = sorted(codons)
        weights = np.array([ratio ** sum(c in "GC" for c in codon) for codon in codons])
        weighted[residue] = (codons, weights / weights.sum())
    return weighted


def back_translate(protein: str, rng: np.random.Generator, codons=None) -> str:
    """A coding sequence for ``protein`` (which starts with M): codons drawn by GC weight,
    a stop codon at the end."""
    codons = codons or codon_choices()
    if not protein.startswith("M"):
        raise ValueError("a planted gene must start with M (its start codon)")
    parts = [
        codons[residue][0][rng.choice(len(codons[residue][0]), p=codons[residue][1])]
        for residue in protein
    ]
    return "".join(parts) + STOP_CODONS[int(rng.integers(3))]


def random_bases(length: int, rng: np.random.Generator, gc: float = GENOME_GC) -> str:
    probabilities = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return "".join(rng.choice(list("ACGT"), size=length, p=probabilities))


@dataclass(frozen=True)
class PlantedGene:
    """A gene of a synthetic genome: 1-based inclusive coordinates of its CDS (stop
    included, as gene callers report it)."""

    name: str
    contig: str
    start: int
    end: int
    strand: str
    protein: str
    is_tps: bool

    def overlap(self, contig: str, start: int, end: int, strand: str) -> float:
        """Fraction of this gene covered by a called gene at contig:start-end(strand) (a
        caller may choose another start codon, so tests accept a high overlap)."""
        if (contig, strand) != (self.contig, self.strand):
            return 0.0
        shared = min(end, self.end) - max(start, self.start) + 1
        return max(0, shared) / (self.end - self.start + 1)


def synthetic_genome(
    tps: list[str],
    contigs: int = 2,
    other_genes: int = 60,
    seed: int = 0,
    gene_length: tuple[int, int] = (150, 500),
) -> tuple[list[tuple[str, str]], list[PlantedGene]]:
    """Random contigs (GC about 0.65) carrying the ``tps`` proteins back-translated, on
    alternating strands, among ``other_genes`` random-protein genes; both dealt in a seeded
    random order over ``contigs`` contigs. Returns ((contig id, sequence), ...) and the
    planted genes."""
    rng = np.random.default_rng(seed)
    codons = codon_choices()
    genes = [(f"tps_{i}", p, True) for i, p in enumerate(tps)]
    for i in range(other_genes):
        length = int(rng.integers(*gene_length))
        body = "".join(rng.choice(list(RANDOM_GENE_RESIDUES), size=length - 1))
        genes.append((f"gene_{i}", "M" + body, False))
    order = rng.permutation(len(genes))
    per_contig = [order[k::contigs] for k in range(contigs)]
    sequences, planted = [], []
    tps_strand = 0
    for k, members in enumerate(per_contig):
        contig = f"contig_{k + 1}"
        parts, length = [], 0
        for index in members:
            name, protein, is_tps = genes[index]
            if is_tps:
                strand = "+-"[tps_strand % 2]
                tps_strand += 1
            else:
                strand = "+-"[int(rng.integers(2))]
            intergenic = random_bases(int(rng.integers(80, 250)), rng)
            cds = back_translate(protein, rng, codons)
            unit = STOPS_IN_FRAME + SHINE_DALGARNO + SPACER + cds
            if strand == "-":
                unit = reverse_complement(unit)
                cds_start = length + len(intergenic) + 1
            else:
                cds_start = length + len(intergenic) + len(unit) - len(cds) + 1
            parts += [intergenic, unit]
            length += len(intergenic) + len(unit)
            planted.append(
                PlantedGene(
                    name, contig, cds_start, cds_start + len(cds) - 1, strand, protein, is_tps
                )
            )
        parts.append(random_bases(int(rng.integers(80, 250)), rng))
        sequences.append((contig, "".join(parts)))
    return sequences, planted


def write_genome_genbank(
    path: str | os.PathLike, contigs: list[tuple[str, str]], genes: list[PlantedGene]
) -> Path:
    """GenBank with a CDS per planted gene (locus_tag = its name, transl_table 11); every
    other CDS carries /translation, the rest are translated by the reader."""
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    records = []
    for contig, sequence in contigs:
        record = SeqRecord(Seq(sequence), id=contig, name=contig, description="synthetic")
        record.annotations["molecule_type"] = "DNA"
        for i, gene in enumerate(g for g in genes if g.contig == contig):
            qualifiers = {"locus_tag": [gene.name], "transl_table": ["11"]}
            if i % 2 == 0:
                qualifiers["translation"] = [gene.protein]
            location = FeatureLocation(
                gene.start - 1, gene.end, strand=1 if gene.strand == "+" else -1
            )
            record.features.append(SeqFeature(location, type="CDS", qualifiers=qualifiers))
        records.append(record)
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as handle:
        SeqIO.write(records, handle, "genbank")
    return path


def proteome_genome(
    proteins: list[tuple[str, str]], contigs: int = 1, seed: int = 0
) -> tuple[list[tuple[str, str]], list[PlantedGene]]:
    """The ``proteins`` ((name, sequence), e.g. a synthetic proteome) as genes of a
    synthetic genome, in the given order dealt over ``contigs`` contigs, on random strands,
    laid out as :func:`synthetic_genome` lays them (stops in frame upstream, a
    Shine-Dalgarno motif). A protein that does not start with M is planted with an M in
    front (its start codon); an ambiguous residue (X) gets any sense codon (the planted
    gene's ``protein`` keeps the X). Codons are drawn for all residues at once (a proteome
    of 100,000 proteins is about 60 million residues)."""
    rng = np.random.default_rng(seed)
    codons = codon_choices()
    planted_proteins = [p if p.startswith("M") else "M" + p for _, p in proteins]
    residues = np.frombuffer("".join(planted_proteins).encode(), dtype="S1")
    drawn = np.empty(len(residues), dtype="U3")
    for residue, (choices, weights) in codons.items():
        at = np.flatnonzero(residues == residue.encode())
        if len(at):
            drawn[at] = np.asarray(choices)[rng.choice(len(choices), size=len(at), p=weights)]
    ambiguous = np.flatnonzero(drawn == "")  # X and the like: any sense codon
    sense = sorted(c for choices, _ in codons.values() for c in choices)
    drawn[ambiguous] = np.asarray(sense)[rng.choice(len(sense), size=len(ambiguous))]
    stops = rng.integers(3, size=len(proteins))
    parts_by_contig: list[list[str]] = [[] for _ in range(contigs)]
    lengths = [0] * contigs
    planted = []
    offset = 0
    for index, ((name, _), protein) in enumerate(zip(proteins, planted_proteins, strict=True)):
        k = index % contigs
        cds = "".join(drawn[offset : offset + len(protein)]) + STOP_CODONS[int(stops[index])]
        offset += len(protein)
        strand = "+-"[int(rng.integers(2))]
        intergenic = random_bases(int(rng.integers(80, 250)), rng)
        unit = STOPS_IN_FRAME + SHINE_DALGARNO + SPACER + cds
        if strand == "-":
            unit = reverse_complement(unit)
            cds_start = lengths[k] + len(intergenic) + 1
        else:
            cds_start = lengths[k] + len(intergenic) + len(unit) - len(cds) + 1
        parts_by_contig[k] += [intergenic, unit]
        lengths[k] += len(intergenic) + len(unit)
        planted.append(
            PlantedGene(
                name, f"contig_{k + 1}", cds_start, cds_start + len(cds) - 1, strand, protein,
                name.startswith("tps_"),
            )
        )  # fmt: skip
    sequences = [
        (f"contig_{k + 1}", "".join(parts) + random_bases(int(rng.integers(80, 250)), rng))
        for k, parts in enumerate(parts_by_contig)
    ]
    return sequences, planted
