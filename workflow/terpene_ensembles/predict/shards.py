"""Sharded screening: prefilter once, predict the candidates in N jobs, gather one result.

The Snakemake route (``predict.shards: N``) runs three kinds of job:

1. :func:`run_prefilter_stage` reads the FASTA (or GenBank/EMBL; genes called in
   nucleotide FASTA) once, validates every record (``rejected.tsv``), runs the TPS
   prefilter (``not_tps.tsv``) and deals the candidates round-robin into N shard files
   (Parquet: record, id, description, sequence, kingdom, and the Pfam domain features and
   alignment positions the prefilter's profile pass computed, as JSON); genome input also gets
   ``genes.tsv`` and ``candidates.faa``.
2. :func:`run_shard` predicts one shard file with the model bundle, exactly as the
   single-job ``predict`` does (the same :func:`terpene_ensembles.predict.screen` loop); the
   shards share the embedding cache.
3. :func:`gather` merges the shard predictions back into input order (one
   ``predictions.parquet``/``.tsv``) and writes ``summary.json`` with
   ``records_in = predicted + not_tps + rejected`` (and, for genome input,
   ``predictions.gff3`` and ``annotated.gbk``).

Every prediction depends on its own sequence only (features, HMMER bit scores, the MMseqs2
search against the training enzymes, the model), so how the candidates are dealt out does
not change them: ``shards: 2`` gives the same files as ``shards: 1``.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from terpene_ensembles.data.input_format import GENOME_FORMATS, MARTS
from terpene_ensembles.data.sequence_input import (
    InputFormatError,
    SequenceRecord,
    detect_input_format,
    iter_records,
)
from terpene_ensembles.errors import InputDataError
from terpene_ensembles.io_utils import atomic_path, read_json, write_json
from terpene_ensembles.predict.prefilter import (
    DEFAULT_BATCH_SIZE,
    TPS_OR_HOMOLOG,
    NotTpsWriter,
    check_mode,
    homolog_cache_of,
    prefilter_records,
)

LOG = logging.getLogger("terpene_ensembles.predict.shards")

CANDIDATE_SCHEMA = pa.schema(
    [
        pa.field("record", pa.int64()),
        pa.field("id", pa.string()),
        pa.field("description", pa.string()),
        pa.field("sequence", pa.string()),
        pa.field("kingdom", pa.string()),
        # JSON object of SequenceRecord.profile_features (null when the record has none)
        pa.field("profile_features", pa.string()),
    ]
)
ROWS_PER_WRITE = 1000
NO_CANDIDATE_MESSAGE = (
    "no TPS candidate among the {valid} valid proteins of {input} ({not_tps} without a TPS "
    "Pfam domain at its gathering cutoff, {rejected} rejected): predictions are empty; "
    "see not_tps.tsv and rejected.tsv"
)


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def peak_rss_children_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


class CandidateShardWriter:
    """Deals records round-robin into ``len(paths)`` Parquet files (all appear atomically).

    Record k (0-based, in input order) goes to shard ``k % n``, so each shard keeps input
    order and shard sizes differ by at most one.
    """

    def __init__(self, paths: Sequence[str | os.PathLike]):
        if not paths:
            raise ValueError("at least one shard path is needed")
        self.paths = [Path(p) for p in paths]
        self.sizes = [0] * len(self.paths)
        self.total = 0

    def __enter__(self) -> CandidateShardWriter:
        self._stack = ExitStack()
        self._writers = []
        for path in self.paths:
            tmp = self._stack.enter_context(atomic_path(path))
            writer = pq.ParquetWriter(tmp, CANDIDATE_SCHEMA)
            self._stack.callback(writer.close)  # closed before atomic_path moves it
            self._writers.append(writer)
        self._buffers: list[list[SequenceRecord]] = [[] for _ in self.paths]
        return self

    def write(self, record: SequenceRecord) -> None:
        shard = self.total % len(self.paths)
        self._buffers[shard].append(record)
        self.sizes[shard] += 1
        self.total += 1
        if len(self._buffers[shard]) >= ROWS_PER_WRITE:
            self._flush(shard)

    def _flush(self, shard: int) -> None:
        rows = self._buffers[shard]
        if rows:
            self._writers[shard].write_table(
                pa.table(
                    {
                        "record": [r.record for r in rows],
                        "id": [r.id for r in rows],
                        "description": [r.description for r in rows],
                        "sequence": [r.sequence for r in rows],
                        "kingdom": [r.kingdom for r in rows],
                        "profile_features": [
                            None if r.profile_features is None else json.dumps(r.profile_features)
                            for r in rows
                        ],
                    },
                    schema=CANDIDATE_SCHEMA,
                )
            )
        self._buffers[shard] = []

    def __exit__(self, *exc_info) -> bool:
        if exc_info[0] is None:
            for shard in range(len(self.paths)):
                self._flush(shard)
        return self._stack.__exit__(*exc_info)


def read_candidates(path: str | os.PathLike, batch_size: int = ROWS_PER_WRITE):
    """Stream the records of a shard file (in the order they were written)."""
    handle = pq.ParquetFile(path)
    if not handle.schema_arrow.equals(CANDIDATE_SCHEMA):
        raise InputDataError(f"{path} is not a candidate shard file of the predict prefilter")
    for batch in handle.iter_batches(batch_size=batch_size):
        columns = batch.to_pydict()
        for record, identifier, description, sequence, kingdom, profile in zip(
            columns["record"],
            columns["id"],
            columns["description"],
            columns["sequence"],
            columns["kingdom"],
            columns["profile_features"],
            strict=True,
        ):
            yield SequenceRecord(
                int(record),
                identifier,
                description,
                sequence,
                kingdom,
                profile_features=None if profile is None else json.loads(profile),
            )


def run_prefilter_stage(
    input_path: str | os.PathLike,
    shard_paths: Sequence[str | os.PathLike],
    not_tps_path: str | os.PathLike,
    rejected_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    mode: str,
    pfam_dir: str | os.PathLike | None,
    threads: int = 1,
    kingdom: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    model_dir: str | os.PathLike | None = None,
    plm_config: dict | None = None,
    gene_calling=None,
    genes_path: str | os.PathLike | None = None,
    candidates_fasta_path: str | os.PathLike | None = None,
) -> dict:
    """Validate, prefilter and shard a FASTA, GenBank or EMBL file; return (and write) the
    stage summary.

    ``model_dir``: the trained model, whose training enzymes the ``tps_domain_or_homolog``
    prefilter searches and whose Pfam HMMs it uses (``pfam_dir`` None; a folder given
    instead must hold the same HMMs). Without a model, ``pfam_dir`` names the HMMs.
    ``plm_config``: the run's plm section; with ``precomputed`` set, candidates the table
    lacks are rejected here when no ESM2 can embed them (predict.precomputed_queries).
    ``gene_calling``: genome_input.GeneCalling for nucleotide FASTA. Genome input writes
    ``genes_path`` (genes.tsv) and ``candidates_fasta_path`` (candidates.faa), both needed
    then; other input writes neither."""
    from terpene_ensembles.learning.bundle import ModelBundle
    from terpene_ensembles.predict.genome_output import CandidateFastaWriter, GeneTableWriter
    from terpene_ensembles.predict.model import plm_settings_for, precomputed_for
    from terpene_ensembles.predict.output import RejectionWriter
    from terpene_ensembles.predict.precomputed_queries import reject_missing

    started = time.perf_counter()
    check_mode(mode)
    input_format = detect_input_format(input_path)
    if input_format == MARTS:
        raise InputFormatError(
            f"input {input_path} is a MARTS-DB export: exports are scored whole, not "
            "prefiltered or sharded (snakemake predict does this by itself)"
        )
    genome = input_format in GENOME_FORMATS
    if genome and (genes_path is None or candidates_fasta_path is None):
        raise ValueError(f"{input_format} input needs genes_path and candidates_fasta_path")
    genome_stats: dict = {}
    with (
        RejectionWriter(rejected_path) as rejected,
        NotTpsWriter(not_tps_path) as not_tps,
        CandidateShardWriter(shard_paths) as shards,
        ExitStack() as genome_files,
    ):
        records = (
            replace(r, kingdom=kingdom)
            for r in iter_records(input_path, rejected, gene_calling, genome_stats)
        )
        if genome:
            records = genome_files.enter_context(GeneTableWriter(genes_path)).tee(records)
        bundle = ModelBundle.load(model_dir) if model_dir is not None else None
        if bundle is not None:
            pfam_dir = bundle.pfam_folder(model_dir, pfam_dir)
        # Only the homology arm needs the training enzymes.
        searches_homologs = mode == TPS_OR_HOMOLOG and bundle is not None
        training = bundle.reference_table() if searches_homologs else None
        records = prefilter_records(
            records, mode, pfam_dir, not_tps, threads, batch_size, training,
            homolog_cache=homolog_cache_of(model_dir),
        )  # fmt: skip
        precomputed_path = (plm_config or {}).get("precomputed")
        precomputed = precomputed_for(bundle, precomputed_path) if bundle else None
        if precomputed is not None and plm_settings_for(bundle, plm_config) is None:
            records = reject_missing(records, precomputed, rejected)
        if genome:
            candidates = CandidateFastaWriter(candidates_fasta_path)
            records = genome_files.enter_context(candidates).tee(records)
        for record in records:
            shards.write(record)
    summary = {
        "input": str(input_path),
        "input_format": input_format,
        "prefilter": mode,
        "records_in": shards.total + not_tps.total + rejected.total,
        "tps_candidates": shards.total,
        "not_tps": not_tps.total,
        "rejected": rejected.total,
        "rejected_by_reason": dict(sorted(rejected.counts.items())),
        "shard_sizes": shards.sizes,
        "seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mib": peak_rss_mib(),
    }
    if genome:
        summary["genome"] = genome_stats
    write_json(summary, summary_path)
    LOG.info(
        "prefilter (%s): %d records, %d TPS candidates, %d not TPS, %d rejected",
        mode,
        summary["records_in"],
        shards.total,
        not_tps.total,
        rejected.total,
    )
    return summary


def run_shard(
    model_dir: str | os.PathLike,
    candidates_path: str | os.PathLike,
    outdir: str | os.PathLike,
    settings,
    plm_config: dict | None = None,
    cache_dir: str | os.PathLike | None = None,
    pfam_dir: str | os.PathLike | None = None,
    featurizer=None,
) -> dict:
    """Predict one candidate shard into ``outdir`` (predictions.parquet/.tsv, summary.json).

    With ``plm_config["precomputed"]`` the candidates' embeddings come from that table
    (the prefilter stage has rejected those it lacks unless ESM2 can embed them)."""
    from terpene_ensembles.predict.loop import screen
    from terpene_ensembles.predict.model import load_scorer
    from terpene_ensembles.split.homology import mmseqs_record

    started = time.perf_counter()
    scorer, pfam_dir = load_scorer(
        model_dir,
        plm_config,
        pfam_dir,
        settings.threads,
        cache_dir,
        featurizer,
        (plm_config or {}).get("precomputed"),
    )
    bundle = scorer.bundle
    counts = screen(read_candidates(candidates_path), scorer, outdir, settings)
    summary = {
        "model_dir": str(model_dir),
        "plm": {k: v for k, v in bundle.plm.items() if isinstance(v, str | int | float | bool)},
        "settings": asdict(settings),
        "pfam_dir": str(pfam_dir),
        "mmseqs2": mmseqs_record(),
        **counts,
        "seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mib": peak_rss_mib(),
        "peak_rss_mib_mmseqs": peak_rss_children_mib(),
    }
    write_json(summary, Path(outdir) / "summary.json")
    return summary


def _ensemble_ids(schema: pa.Schema) -> list[str]:
    from terpene_ensembles.predict.output import PROBABILITY_PREFIX

    return [
        n.removeprefix(PROBABILITY_PREFIX) for n in schema.names if n.startswith(PROBABILITY_PREFIX)
    ]


def merged_batches(shard_files: Sequence[str | os.PathLike], batch_size: int) -> Iterator:
    """Shard predictions back in input order, ``batch_size`` rows per shard at a time.

    Shard s holds candidates s, s + n, s + 2n, ... in order, so the j-th block of every
    shard together is one contiguous run of candidates: sorting it by record restores the
    input order with only n * batch_size rows in memory.
    """
    iterators = [pq.ParquetFile(f).iter_batches(batch_size=batch_size) for f in shard_files]
    while True:
        blocks = [b for b in (next(it, None) for it in iterators) if b is not None]
        if not blocks:
            return
        yield pa.Table.from_batches(blocks).sort_by("record")


def gather(
    prefilter_summary_path: str | os.PathLike,
    shard_dirs: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    settings: dict | None = None,
    batch_size: int = ROWS_PER_WRITE,
    genes_path: str | os.PathLike | None = None,
) -> dict:
    """Merge the shards into ``outdir``/predictions.parquet/.tsv and write summary.json;
    genome input (the prefilter's genes.tsv at ``genes_path``, default ``outdir``/genes.tsv)
    also gets predictions.gff3 (and annotated.gbk for GenBank/EMBL)."""
    from terpene_ensembles.predict.output import PredictionWriter

    started = time.perf_counter()
    outdir = Path(outdir)
    prefiltered = read_json(prefilter_summary_path)
    shard_dirs = [Path(d) for d in shard_dirs]
    shard_summaries = [read_json(d / "summary.json") for d in shard_dirs]
    shard_files = [d / "predictions.parquet" for d in shard_dirs]
    schemas = [pq.read_schema(f) for f in shard_files]
    names = [s.names for s in schemas]
    if any(n != names[0] for n in names):
        raise InputDataError(
            f"the shards in {shard_dirs[0].parent} have different columns: they come from "
            "different models; rerun snakemake predict"
        )
    expected = prefiltered["shard_sizes"]
    got = [s["predicted"] for s in shard_summaries]
    if len(expected) != len(got) or expected != got:
        raise InputDataError(
            f"shard predictions ({got}) do not match the prefilter's shards ({expected}); "
            "rerun snakemake predict"
        )
    out_of_domain = 0
    with PredictionWriter(outdir, _ensemble_ids(schemas[0])) as writer:
        for table in merged_batches(shard_files, batch_size):
            frame = table.to_pandas()
            writer.write(frame)
            out_of_domain += int(frame["out_of_domain"].sum())
    predicted = writer.rows
    first = shard_summaries[0] if shard_summaries else {}
    summary = {
        "input": prefiltered["input"],
        "input_format": prefiltered.get("input_format", "fasta"),
        "model_dir": first.get("model_dir", ""),
        "plm": first.get("plm", {}),
        "settings": {**(first.get("settings") or {}), **(settings or {})},
        "pfam_dir": first.get("pfam_dir", ""),
        "mmseqs2": first.get("mmseqs2", {}),
        "prefilter": prefiltered["prefilter"],
        "records_in": prefiltered["records_in"],
        "tps_candidates": prefiltered["tps_candidates"],
        "not_tps": prefiltered["not_tps"],
        "predicted": predicted,
        "out_of_domain": out_of_domain,
        "rejected": prefiltered["rejected"],
        "rejected_by_reason": prefiltered["rejected_by_reason"],
        "chunks": sum(s["chunks"] for s in shard_summaries),
        "shards": [
            {
                "shard": d.name,
                "predicted": s["predicted"],
                "seconds": s["seconds"],
                "peak_rss_mib": s["peak_rss_mib"],
            }
            for d, s in zip(shard_dirs, shard_summaries, strict=True)
        ],
        "prefilter_seconds": prefiltered["seconds"],
        "prefilter_peak_rss_mib": prefiltered["peak_rss_mib"],
    }
    if "genome" in prefiltered:
        from terpene_ensembles.predict.genome_output import GENES_FILE, write_genome_outputs

        summary["genome"] = prefiltered["genome"]
        write_genome_outputs(
            outdir, prefiltered["input"], summary["input_format"], genes_path or outdir / GENES_FILE
        )
    if summary["records_in"] != predicted + summary["not_tps"] + summary["rejected"]:
        raise InputDataError(
            f"records_in {summary['records_in']} != predicted {predicted} + not_tps "
            f"{summary['not_tps']} + rejected {summary['rejected']}: the prefilter and shard "
            "outputs come from different runs; rerun snakemake predict"
        )
    # Job seconds added up (the shards may have run in parallel); peak memory of any job.
    summary["seconds"] = round(
        prefiltered["seconds"]
        + sum(s["seconds"] for s in shard_summaries)
        + time.perf_counter()
        - started,
        3,
    )
    summary["peak_rss_mib"] = max(
        [prefiltered["peak_rss_mib"], peak_rss_mib()] + [s["peak_rss_mib"] for s in shard_summaries]
    )
    summary["peak_rss_mib_mmseqs"] = max(
        [0.0] + [s.get("peak_rss_mib_mmseqs", 0.0) for s in shard_summaries]
    )
    summary["message"] = ""
    if predicted == 0:
        summary["message"] = NO_CANDIDATE_MESSAGE.format(
            valid=summary["records_in"] - summary["rejected"],
            input=summary["input"],
            not_tps=summary["not_tps"],
            rejected=summary["rejected"],
        )
        LOG.warning(summary["message"])
    write_json(summary, outdir / "summary.json")
    return summary
