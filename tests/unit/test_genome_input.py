"""Genome input: nucleotide FASTA (genes called with pyrodigal), GenBank and EMBL in,
genes.tsv, candidates.faa, predictions.gff3 and annotated.gbk out (issue 29)."""

from __future__ import annotations

import gzip
import json
import re

import pandas as pd
import pytest
from Bio import SeqIO
from conftest import DEMO_MARTS, DEMO_PFAM

from terpene_ensembles.data.genome_input import (
    GeneCalling,
    check_contig,
    choose_mode,
)
from terpene_ensembles.data.input_format import EMBL, FASTA, GENBANK, NUCLEOTIDE_FASTA
from terpene_ensembles.data.sequence_input import (
    InputFormatError,
    detect_input_format,
    iter_records,
)
from terpene_ensembles.errors import ConfigError
from terpene_ensembles.predict.genome_output import escape, gff3_lines
from terpene_ensembles.predict.synthetic import (
    export_sequences,
    proteome_genome,
    proteome_records,
    random_bases,
    synthetic_genome,
    write_genome_genbank,
    write_proteome,
)


@pytest.fixture(scope="module")
def planted_genome():
    """Two contigs (> 100 kb: single mode under auto) with six demo TPS among 80 genes."""
    tps = [s for s in export_sequences(DEMO_MARTS) if s.startswith("M")][:6]
    return synthetic_genome(tps, contigs=2, other_genes=80, seed=0)


def read(path, **settings):
    rejections, stats = [], {}
    records = list(iter_records(path, rejections, GeneCalling(**settings), stats))
    return records, rejections, stats


def overlap(record, gene) -> float:
    locus = record.locus
    return gene.overlap(locus.contig, locus.start, locus.end, locus.strand)


def assert_planted_found(records, planted, same_protein=True):
    """Every planted gene called once (overlap >= 90%); in single mode the TPS with the
    planted start (meta mode may choose another start codon)."""
    for gene in planted:
        hits = [r for r in records if overlap(r, gene) >= 0.9]
        assert len(hits) == 1, gene.name
        if gene.is_tps and same_protein:
            assert hits[0].sequence == gene.protein, gene.name


def assert_records_numbered_in_order(records, rejections):
    numbers = sorted([r.record for r in records] + [r.record for r in rejections])
    assert numbers == list(range(1, len(numbers) + 1))


# --- detection --------------------------------------------------------------------------


def test_formats_are_recognised_by_content(planted_genome, tmp_path):
    contigs, planted = planted_genome
    assert detect_input_format(write_proteome(tmp_path / "g.txt", contigs)) == NUCLEOTIDE_FASTA
    assert detect_input_format(write_proteome(tmp_path / "g.faa.gz", contigs)) == NUCLEOTIDE_FASTA
    assert detect_input_format(write_genome_genbank(tmp_path / "g.gbk", contigs, planted)) == (
        GENBANK
    )
    records = SeqIO.parse(tmp_path / "g.gbk", "genbank")
    SeqIO.write(records, tmp_path / "g.dat", "embl")
    assert detect_input_format(tmp_path / "g.dat") == EMBL
    proteins = [(g.name, g.protein) for g in planted]
    assert detect_input_format(write_proteome(tmp_path / "p.fna", proteins)) == FASTA


def test_gene_calling_settings_are_checked():
    with pytest.raises(ConfigError, match="not one of auto, single, meta"):
        GeneCalling(mode="fast")
    with pytest.raises(ConfigError, match="genetic code 7"):
        GeneCalling(genetic_code=7)
    assert choose_mode("auto", 99_999) == "meta"
    assert choose_mode("auto", 100_000) == "single"
    assert choose_mode("auto", 50_000_000) == "meta"
    with pytest.raises(InputFormatError, match="single needs"):
        choose_mode("single", 5_000)


# --- genes called at their coordinates --------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "meta"])
def test_planted_genes_are_called_at_their_coordinates(planted_genome, tmp_path, mode):
    contigs, planted = planted_genome
    records, rejections, stats = read(write_proteome(tmp_path / "g.fna.gz", contigs), mode=mode)
    assert stats["gene_calling"] == ("single" if mode == "auto" else "meta")
    assert stats["contigs_in"] == 2 and stats["genes_called"] == len(records) + len(rejections)
    assert_planted_found(records, planted, same_protein=mode == "auto")
    assert_records_numbered_in_order(records, rejections)
    tps = next(r for r in records if overlap(r, planted[0]) >= 0.9)
    g = planted[0]
    assert tps.id == f"{g.contig}_{tps.locus.start}_{tps.locus.end}_{g.strand}"


def test_a_proteome_planted_as_a_genome_is_called_back(tmp_path):
    """proteome_genome (bench_screen.py --input nucleotide): every protein of a synthetic
    proteome is a gene at its coordinates, coding for the protein (an M put in front where
    it has none), and the caller finds each one."""
    from Bio.Seq import Seq

    tps = export_sequences(DEMO_MARTS)[:3]
    proteome = proteome_records(tps, 30, 9, seed=3)
    contigs, planted = proteome_genome(proteome, contigs=2, seed=1)
    assert [g.name for g in planted] == [name for name, _ in proteome]
    assert [g.is_tps for g in planted] == [name.startswith("tps_") for name, _ in proteome]
    sequences = dict(contigs)
    for gene, (_, protein) in zip(planted, proteome, strict=True):
        cds = Seq(sequences[gene.contig][gene.start - 1 : gene.end])
        cds = cds if gene.strand == "+" else cds.reverse_complement()
        assert str(cds.translate()) == gene.protein + "*"
        assert gene.protein in (protein, "M" + protein)
    records, _, _ = read(write_proteome(tmp_path / "p.fna.gz", contigs), mode="meta")
    assert_planted_found(records, planted, same_protein=False)
    ((_, sequence),), (gene,) = proteome_genome([("tps_x", "KXAL")], seed=2)  # X: any codon
    cds = Seq(sequence[gene.start - 1 : gene.end])
    translated = str((cds if gene.strand == "+" else cds.reverse_complement()).translate())
    assert gene.protein == "MKXAL" and re.fullmatch(r"MK[A-Z]AL\*", translated)


def test_genbank_and_embl_cds_keep_their_names_and_coordinates(planted_genome, tmp_path):
    contigs, planted = planted_genome
    genbank = write_genome_genbank(tmp_path / "g.gbk.gz", contigs, planted)
    records, rejections, stats = read(genbank)
    assert rejections == [] and stats["cds_in"] == len(planted)
    assert [r.id for r in records] == [g.name for c, _ in contigs for g in planted if g.contig == c]
    by_name = {r.id: r for r in records}
    for gene in planted:  # half carry /translation, half are translated with transl_table
        locus = by_name[gene.name].locus
        assert (locus.contig, locus.start, locus.end, locus.strand) == (
            gene.contig, gene.start, gene.end, gene.strand
        )  # fmt: skip
        assert by_name[gene.name].sequence == gene.protein
    with gzip.open(genbank, "rt") as handle:
        SeqIO.write(SeqIO.parse(handle, "genbank"), tmp_path / "g.embl", "embl")
    embl, _, _ = read(tmp_path / "g.embl")
    assert [(r.id, r.sequence, r.locus) for r in embl] == [
        (r.id, r.sequence, r.locus) for r in records
    ]


def test_a_joined_cds_keeps_its_segments(tmp_path):
    import numpy as np
    from Bio.Seq import Seq
    from Bio.SeqFeature import CompoundLocation, FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    rng = np.random.default_rng(1)
    exon1, exon2 = "ATGGCTGCTAAA", "GATGAATTTTAA"  # M A A K | D E F stop
    sequence = random_bases(50, rng) + exon1 + random_bases(40, rng) + exon2 + random_bases(30, rng)
    record = SeqRecord(Seq(sequence), id="chr1", name="chr1")
    record.annotations["molecule_type"] = "DNA"
    location = CompoundLocation([FeatureLocation(50, 62, 1), FeatureLocation(102, 114, 1)])
    record.features.append(SeqFeature(location, type="CDS", qualifiers={"protein_id": ["p1.1"]}))
    SeqIO.write([record], tmp_path / "j.gbk", "genbank")
    (protein,), rejections, _ = read(tmp_path / "j.gbk")
    assert protein.id == "p1.1" and protein.sequence == "MAAKDEF"
    assert (protein.locus.start, protein.locus.end, protein.locus.segments) == (
        51,
        114,
        "51-62,103-114",
    )


# --- bad input --------------------------------------------------------------------------


def test_bad_contigs_and_genes_get_a_reason_each_and_counts_add_up(planted_genome, tmp_path):
    contigs, planted = planted_genome
    name, sequence = contigs[0]
    tps = next(g for g in planted if g.contig == name and g.is_tps)
    masked = (
        sequence[: tps.start - 1] + sequence[tps.start - 1 : tps.end].lower() + sequence[tps.end :]
    )
    # An ambiguity code inside the second TPS of the contig: its gene becomes X -> rejected.
    other = [g for g in planted if g.contig == name and g.start > tps.end][0]
    middle = (other.start + other.end) // 2
    masked = masked[:middle] + "R" + masked[middle + 1 :]
    text = (
        f">{name}\n{masked}\n"
        ">protein_record\nMSTEEFILKLPQWERTYMSTEEFILKLPQWERTY\n"
        f">short\n{sequence[:40]}\n"
        f">gap\n{'N' * 5000}\n"
        f">{name}\n{sequence[:300]}\n"
        ">junk\nACGT123ACGT\n"
        ">empty\n\n"
    )
    path = tmp_path / "bad.fna"
    path.write_text(text)
    records, rejections, stats = read(path, mode="single")
    reasons = {r.id: r.reason for r in rejections}
    assert reasons["protein_record"] == "protein_sequence"
    assert reasons["short"] == "contig_too_short"
    assert reasons["gap"] == "no_gene_called"  # a run of N holds no gene
    assert reasons[name] == "duplicate_id"
    assert reasons["junk"] == "invalid_bases"
    assert reasons["empty"] == "empty_sequence"
    ambiguous = [r for r in rejections if r.reason == "ambiguous_bases"]
    assert len(ambiguous) == 1 and ambiguous[0].id.startswith(name)
    locus = _locus_of(ambiguous[0].id)
    assert other.overlap(locus.contig, locus.start, locus.end, locus.strand) >= 0.9
    # Soft-masked bases are bases: the lowercase TPS is called like the others.
    assert any(overlap(r, tps) >= 0.9 and r.sequence == tps.protein for r in records)
    assert stats["contigs_soft_masked"] == 1 and stats["contigs_with_ambiguity_codes"] == 1
    assert_records_numbered_in_order(records, rejections)


def _locus_of(gene_id: str):
    from terpene_ensembles.data.sequence_input import Locus

    contig, start, end, strand = gene_id.rsplit("_", 3)
    return Locus(contig, 0, int(start), int(end), strand, f"{start}-{end}")


def test_protein_file_rejects_nucleotide_records_and_the_reverse(tmp_path):
    dna = "ATGGCGTTAGCCTTAGGCATTAGCGGATTACGATCGATRYKMATGC"  # ambiguity codes too
    text = ">p1\nMKVLLEQWPF\n>p2\nMSTEFQLLIK\n>dna\n" + dna.lower() + "\n"
    records, rejections, _ = read(tmp_path.joinpath("p.fa").write_text(text) and tmp_path / "p.fa")
    assert [r.id for r in records] == ["p1", "p2"]
    assert [(r.id, r.reason) for r in rejections] == [("dna", "nucleotide_sequence")]
    assert check_contig("MKVLLEQWPFMKVLLEQWPF")[1] == "protein_sequence"
    assert check_contig("acgtnnacgtacgtRYacgtacgt")[1] is None


def test_genbank_without_cds_is_an_error_or_a_rejected_record(planted_genome, tmp_path):
    contigs, planted = planted_genome
    write_genome_genbank(tmp_path / "none.gbk", contigs, [])
    with pytest.raises(InputFormatError, match="no CDS features"):
        read(tmp_path / "none.gbk")
    first_only = [g for g in planted if g.contig == contigs[0][0]]
    write_genome_genbank(tmp_path / "half.gbk", contigs, first_only)
    records, rejections, _ = read(tmp_path / "half.gbk")
    assert len(records) == len(first_only)
    assert [(r.id, r.reason) for r in rejections] == [(contigs[1][0], "no_cds_features")]


def test_empty_and_truncated_gzip_are_clear_errors(planted_genome, tmp_path):
    contigs, _ = planted_genome
    (tmp_path / "empty.fna.gz").write_bytes(gzip.compress(b""))
    with pytest.raises(InputFormatError, match="empty"):
        read(tmp_path / "empty.fna.gz")
    whole = write_proteome(tmp_path / "g.fna.gz", contigs).read_bytes()
    (tmp_path / "cut.fna.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputFormatError, match="truncated or corrupt gzip"):
        read(tmp_path / "cut.fna.gz")


# --- GFF3 -------------------------------------------------------------------------------


def test_gff3_escapes_reserved_characters_and_parses_with_a_gff3_reader(tmp_path):
    from BCBio import GFF

    predictions = pd.DataFrame(
        {
            "id": ["a;b=c", "g2"],
            "record": [1, 2],
            "called": [["p-menthane", "x,y"], ["pinane"]],
            "top3": [["p-menthane", "x,y", "z"], ["pinane", "a", "b"]],
            "top3_probability": [[0.9, 0.05, 0.01], [0.7, 0.2, 0.1]],
            "nearest_training": [["E1"], []],
            "nearest_identity": [[0.85], []],
            "best_identity": [0.85, float("nan")],
            "tps_domains": [["PF01397"], []],
            "out_of_domain": [False, True],
            "ood_reason": ["", "no_tps_pfam_hit;no_training_enzyme_above_identity_floor"],
        }
    )
    genes = pd.DataFrame(
        {
            "record": [1, 2],
            "id": ["a;b=c", "g2"],
            "contig": ["chr 1", "chr 1"],
            "contig_length": [5000, 5000],
            "start": [100, 1000],
            "end": [399, 2200],
            "strand": ["+", "-"],
            "segments": ["100-399", "2001-2200,1000-1099"],
        }
    )
    lines = list(gff3_lines(predictions, genes))
    assert lines[:2] == ["##gff-version 3", "##sequence-region chr%201 1 5000"]
    assert escape("a;b=c,d&e%\t") == "a%3Bb%3Dc%2Cd%26e%25%09"
    (tmp_path / "p.gff3").write_text("\n".join(lines) + "\n")
    with open(tmp_path / "p.gff3") as handle:
        (contig,) = list(GFF.parse(handle))
    # BCBio names the second line of a multi-line feature g2_2; its ID attribute is g2.
    features = {f.id: f for f in contig.features}
    assert set(features) == {"a;b=c", "g2", "g2_2"}
    assert features["g2_2"].qualifiers["ID"] == ["g2"]
    first = features["a;b=c"].qualifiers
    assert first["called_ensembles"] == ["p-menthane", "x,y"]
    assert first["top3_probability"] == ["0.9000", "0.0500", "0.0100"]
    assert first["nearest_training"] == ["E1"] and first["out_of_domain"] == ["false"]
    second = features["g2"]
    assert second.qualifiers["ood_reason"] == [
        "no_tps_pfam_hit", "no_training_enzyme_above_identity_floor"
    ]  # fmt: skip
    # A join is one feature over several lines (same ID), phases continuing the frame.
    cds_lines = [line.split("\t") for line in lines if line.startswith("chr")]
    assert [(c[3], c[4], c[7]) for c in cds_lines if "ID=g2" in c[8]] == [
        ("2001", "2200", "0"), ("1000", "1099", "1")
    ]  # fmt: skip


# --- end to end on the small trained model (tests/session_fixtures.py) -------------------


def planted_protein_fasta(planted, path):
    return write_proteome(path, [(g.name, g.protein) for g in planted if g.is_tps])


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Prediction columns that depend on the sequence only (not its id or position)."""
    return frame.drop(columns=["id", "record"]).reset_index(drop=True)


def planted_predictions(outdir, planted) -> pd.DataFrame:
    predictions = pd.read_parquet(outdir / "predictions.parquet")
    genes = pd.read_csv(outdir / "genes.tsv", sep="\t")
    placed = predictions.merge(genes[["record", "contig", "start", "end", "strand"]], on="record")
    rows = []
    for gene in (g for g in planted if g.is_tps):
        hit = [
            row
            for _, row in placed.iterrows()
            if gene.overlap(row.contig, row.start, row.end, row.strand) >= 0.9
        ]
        assert len(hit) == 1, gene.name
        rows.append(hit[0][predictions.columns])
    return pd.DataFrame(rows)


def test_genome_route_predicts_planted_tps_like_protein_fasta(
    small_training_run, planted_genome, tmp_path
):
    from BCBio import GFF

    from terpene_ensembles.predict.loop import ScreeningSettings
    from terpene_ensembles.predict.run import run_prediction

    contigs, planted = planted_genome
    model = small_training_run["model_dir"]
    settings = ScreeningSettings(chunk_size=4, threads=2, prefilter="tps_domain")
    proteins = run_prediction(
        model, planted_protein_fasta(planted, tmp_path / "p.faa"), tmp_path / "p", settings,
        pfam_dir=DEMO_PFAM,
    )  # fmt: skip
    assert proteins["predicted"] == 6
    expected = comparable(pd.read_parquet(tmp_path / "p" / "predictions.parquet"))
    inputs = {
        "fna": write_proteome(tmp_path / "g.fna.gz", contigs),
        "gbk": write_genome_genbank(tmp_path / "g.gbk", contigs, planted),
    }
    for kind, path in inputs.items():
        outdir = tmp_path / kind
        summary = run_prediction(model, path, outdir, settings, pfam_dir=DEMO_PFAM)
        assert summary["records_in"] == (
            summary["predicted"] + summary["not_tps"] + summary["rejected"]
        )
        assert summary["input_format"] == ("nucleotide_fasta" if kind == "fna" else "genbank")
        found = planted_predictions(outdir, planted)
        pd.testing.assert_frame_equal(comparable(found), expected)
        with open(outdir / "predictions.gff3") as handle:
            features = [f for record in GFF.parse(handle) for f in record.features]
        assert len(features) == summary["predicted"]
        assert {f.id for f in features} >= set(found["id"])
        faa = list(SeqIO.parse(outdir / "candidates.faa", "fasta"))
        assert len(faa) == summary["predicted"]
        page_ok = (kind == "gbk") == (outdir / "annotated.gbk").is_file()
        assert page_ok
    annotated = list(SeqIO.parse(tmp_path / "gbk" / "annotated.gbk", "genbank"))
    notes = [f for r in annotated for f in r.features if f.type == "misc_feature"]
    assert sorted(f.qualifiers["label"][0] for f in notes) == sorted(
        pd.read_parquet(tmp_path / "gbk" / "predictions.parquet")["id"]
    )


def test_sharded_genome_route_equals_the_single_process_route(
    small_training_run, planted_genome, tmp_path
):
    from terpene_ensembles.data.genome_input import GeneCalling
    from terpene_ensembles.predict.loop import ScreeningSettings
    from terpene_ensembles.predict.run import run_prediction
    from terpene_ensembles.predict.screening_report import write_screening_report
    from terpene_ensembles.predict.shards import gather, run_prefilter_stage, run_shard

    contigs, planted = planted_genome
    fasta = write_proteome(tmp_path / "g.fna", contigs)
    model = small_training_run["model_dir"]
    settings = ScreeningSettings(chunk_size=4, threads=2, prefilter="tps_domain")
    single = run_prediction(model, fasta, tmp_path / "one", settings, pfam_dir=DEMO_PFAM)
    out = tmp_path / "sharded"
    items = ["1-of-2", "2-of-2"]
    shards = [out / "prefilter" / "candidates" / f"{i}.parquet" for i in items]
    run_prefilter_stage(
        fasta, shards, out / "not_tps.tsv", out / "rejected.tsv",
        out / "prefilter" / "summary.json", "tps_domain", DEMO_PFAM, threads=2,
        gene_calling=GeneCalling(threads=2),
        genes_path=out / "genes.tsv", candidates_fasta_path=out / "candidates.faa",
    )  # fmt: skip
    for item, path in zip(items, shards, strict=True):
        run_shard(model, path, out / "shards" / item, settings, pfam_dir=DEMO_PFAM)
    summary = gather(out / "prefilter" / "summary.json", [out / "shards" / i for i in items], out)
    for name in ("predictions.tsv", "not_tps.tsv", "rejected.tsv", "genes.tsv", "candidates.faa",
                 "predictions.gff3"):  # fmt: skip
        assert (out / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    for key in ("records_in", "predicted", "not_tps", "rejected", "genome"):
        assert summary[key] == single[key], key
    page = write_screening_report(out).read_text()
    assert 'data-kind="text" class="text">contig</th>' in page
    assert json.loads((out / "summary.json").read_text())["input_format"] == "nucleotide_fasta"


@pytest.mark.pipeline
@pytest.mark.snakemake
def test_snakemake_predict_takes_genome_input_in_shards(
    small_training_run, planted_genome, tmp_path
):
    """`snakemake predict` with predict.shards: 2 on nucleotide FASTA and on GenBank: the
    genome outputs are declared rule outputs, and equal the single-process route's."""
    import shutil

    from conftest import copy_workflow, run_snakemake

    from terpene_ensembles.predict.loop import ScreeningSettings
    from terpene_ensembles.predict.run import run_prediction

    contigs, planted = planted_genome
    workdir = copy_workflow(tmp_path / "wf")
    shutil.copytree(small_training_run["model_dir"], workdir / "results" / "model")
    config = workdir / "config.yaml"
    config.write_text(
        f"marts_csv: {DEMO_MARTS}\nplm: {{enabled: false}}\nfeatures: {{pfam_dir: {DEMO_PFAM}}}\n"
        "predict: {shards: 2, prefilter: tps_domain}\n"
    )
    inputs = {
        "fna": (write_proteome(tmp_path / "g.fna.gz", contigs), ["predictions.gff3"]),
        "gbk": (
            write_genome_genbank(tmp_path / "g.gbk", contigs, planted),
            ["predictions.gff3", "annotated.gbk"],
        ),
    }
    for name, (path, genome_files) in inputs.items():
        result = run_snakemake(
            workdir, "predict", "--cores", "2", "--configfile", str(config),
            "--allowed-rules", "predict_prefilter", "predict_shard", "predict",
            "--config", f"predict_input={path}", f"predict_name={name}",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        out = workdir / "results" / "predict" / name
        single = run_prediction(
            small_training_run["model_dir"], path, tmp_path / f"single_{name}",
            ScreeningSettings(threads=2, prefilter="tps_domain"), pfam_dir=DEMO_PFAM,
        )  # fmt: skip
        for file in ["predictions.tsv", "rejected.tsv", "genes.tsv", "candidates.faa"]:
            assert (out / file).read_bytes() == (tmp_path / f"single_{name}" / file).read_bytes()
        for file in genome_files:
            assert (out / file).read_bytes() == (tmp_path / f"single_{name}" / file).read_bytes()
        summary = json.loads((out / "summary.json").read_text())
        assert summary["records_in"] == single["records_in"]
        assert summary["predicted"] == single["predicted"] >= 6
        assert len(summary["shards"]) == 2
