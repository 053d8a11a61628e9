"""Whole prediction runs: a FASTA, GenBank or EMBL file or a MARTS-DB export in, every
output file out."""

from __future__ import annotations

import logging
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from terpene_ensembles.data.input_format import GENOME_FORMATS, MARTS
from terpene_ensembles.data.sequence_input import (
    InputFormatError,
    Rejection,
    SequenceRecord,
    detect_input_format,
    iter_records,
)
from terpene_ensembles.io_utils import write_json
from terpene_ensembles.predict.genome_output import (
    CANDIDATES_FILE,
    GENES_FILE,
    CandidateFastaWriter,
    GeneTableWriter,
    write_genome_outputs,
)
from terpene_ensembles.predict.loop import ScreeningSettings, screen
from terpene_ensembles.predict.model import (
    BundleScorer,
    ChunkScores,
    Featurizer,
    load_scorer,
)
from terpene_ensembles.predict.output import RejectionWriter
from terpene_ensembles.predict.precomputed_queries import reject_missing
from terpene_ensembles.predict.prefilter import (
    homolog_cache_of,
    not_tps_sink,
    prefilter_records,
)
from terpene_ensembles.predict.shards import NO_CANDIDATE_MESSAGE
from terpene_ensembles.split.homology import mmseqs_record

log = logging.getLogger(__name__)
# metrics.json's reliability_honesty of a model bundle without a reliability table.
NO_RELIABILITY_TABLE = (
    "the model bundle has no reliability table (trained before reliability by homology "
    "band): its predictions carry no expected_top_precision to check"
)


def marts_records(enzymes: pd.DataFrame) -> Iterator[SequenceRecord]:
    """Enzymes of a parsed export as records; ``record`` is their first source row."""
    for row in enzymes.itertuples(index=False):
        yield SequenceRecord(
            record=int(min(row.source_rows)) if len(row.source_rows) else 0,
            id=str(row.id),
            description=str(row.enzyme_name),
            sequence=str(row.sequence),
            kingdom=str(row.kingdom),
        )


def label_marts_export(input_path, bundle, workdir: Path):
    """Parse an export with the model's frozen vocabulary: ParseOutputs (enzymes, labels, ...)."""
    from terpene_ensembles.data.marts import MartsFormatError
    from terpene_ensembles.data.parse_stage import run_parse
    from terpene_ensembles.settings import ParseConfig

    vocabulary = workdir / "ensembles.tsv"
    pd.DataFrame(bundle.ensembles).to_csv(vocabulary, sep="\t", index=False)
    try:
        return run_parse(input_path, None, ParseConfig(frozen_vocabulary=str(vocabulary)))
    except MartsFormatError as error:
        raise InputFormatError(str(error)) from error


class MetricsCollector:
    """Keeps every predictor's calibrated probabilities of a labelled input, chunk by chunk,
    and what the predictions carry: the model's probabilities and calls, best identity and
    expected top-call precision."""

    def __init__(self, ensemble_ids: list[str], baseline_members):
        self.ensemble_ids = ensemble_ids
        self.baseline_members = tuple(baseline_members)
        self.frames: list[pd.DataFrame] = []
        self.evidence: list[pd.DataFrame] = []
        self.probabilities: list[np.ndarray] = []
        self.calls: list[np.ndarray] = []

    def __call__(self, chunk: pd.DataFrame, scores: ChunkScores, predictions: pd.DataFrame):
        from terpene_ensembles.learning.cross_fitting import predictions_frame

        self.frames.append(
            predictions_frame(chunk["id"], "predict", scores.predictors, self.ensemble_ids)
        )
        self.evidence.append(predictions[["id", "best_identity", "expected_top_precision"]])
        self.probabilities.append(np.asarray(scores.probabilities, dtype=np.float64))
        self.calls.append(np.asarray(scores.calls, dtype=bool))

    def honesty(self, truth: pd.DataFrame, ids=None) -> dict:
        """reliability.prediction_honesty of the predictions over ``ids`` (default: every
        predicted enzyme); ``truth``: labels indexed by id."""
        from terpene_ensembles.learning.reliability import prediction_honesty

        evidence = pd.concat(self.evidence, ignore_index=True)
        keep = np.ones(len(evidence), dtype=bool)
        if ids is not None:
            keep = evidence["id"].isin(set(ids)).to_numpy()
        evidence = evidence[keep]
        return prediction_honesty(
            evidence["id"],
            evidence["best_identity"].to_numpy(np.float64),
            evidence["expected_top_precision"].to_numpy(np.float64),
            truth.loc[evidence["id"], self.ensemble_ids].to_numpy(),
            np.concatenate(self.probabilities)[keep],
            np.concatenate(self.calls)[keep],
        )

    def metrics(self, truth: pd.DataFrame, calibration: dict, ids=None) -> dict:
        """metrics.predictor_metrics over ``ids`` (default: every predicted enzyme)."""
        from terpene_ensembles.learning.metrics import predictor_metrics

        calibrated = pd.concat(self.frames, ignore_index=True)
        if ids is not None:
            calibrated = calibrated[calibrated["id"].isin(set(ids))]
        result = predictor_metrics(
            calibrated, truth, calibration, self.ensemble_ids, self.baseline_members, "predict"
        )
        result["n_enzymes"] = int(calibrated["id"].nunique())
        return result


def run_prediction(
    model_dir: str | os.PathLike,
    input_path: str | os.PathLike,
    outdir: str | os.PathLike,
    settings: ScreeningSettings,
    plm_config: dict | None = None,
    cache_dir: str | os.PathLike | None = None,
    pfam_dir: str | os.PathLike | None = None,
    featurizer: Featurizer | None = None,
    progress: Callable[[int], None] | None = None,
    precomputed_path: str | os.PathLike | None = None,
) -> dict:
    """Predict a protein or nucleotide FASTA, GenBank or EMBL file or a MARTS-DB export;
    write every output; return the summary (genome input: also genes.tsv, candidates.faa,
    predictions.gff3, and annotated.gbk for GenBank/EMBL; predict.genome_output).

    ``pfam_dir``: None for the model folder's own Pfam HMMs; a folder given instead must
    hold the same HMMs (ModelBundle.pfam_folder). ``progress(n)``, when given, is called
    after each chunk with its number of sequences.
    ``precomputed_path``: the queries' embeddings made elsewhere (plm.precomputed; see
    predict.precomputed_queries for the queries it lacks).

    Raises InputFormatError (input is not FASTA/MARTS) or ModelCompatibilityError before
    any output is written.
    """

    started = time.perf_counter()
    outdir = Path(outdir)
    input_format = detect_input_format(input_path)
    scorer, pfam_dir = load_scorer(
        model_dir,
        plm_config,
        pfam_dir,
        settings.threads,
        cache_dir,
        featurizer,
        precomputed_path,
    )
    bundle = scorer.bundle
    # Queries the table lacks are rejected when no ESM2 can embed them.
    rejects_unembedded = scorer.precomputed is not None and scorer.embedder is None
    outdir.mkdir(parents=True, exist_ok=True)
    summary = {
        "input": str(input_path),
        "input_format": input_format,
        "model_dir": str(model_dir),
        "plm": {k: v for k, v in bundle.plm.items() if not isinstance(v, np.ndarray)},
        "settings": asdict(settings),
        "pfam_dir": str(pfam_dir),
        "mmseqs2": mmseqs_record(),  # the binary the neighbour search and prefilter run
    }
    with tempfile.TemporaryDirectory(prefix=".predict_", dir=outdir) as workdir:
        with RejectionWriter(outdir / "rejected.tsv") as rejected:
            if input_format != MARTS:
                genome = input_format in GENOME_FORMATS
                genome_stats: dict = {}
                records = (
                    replace(record, kingdom=settings.kingdom)
                    for record in iter_records(
                        input_path, rejected, settings.gene_calling_settings(), genome_stats
                    )
                )
                with (
                    not_tps_sink(outdir / "not_tps.tsv", settings.prefilter) as not_tps,
                    ExitStack() as genome_files,
                ):
                    if genome:
                        genes = genome_files.enter_context(GeneTableWriter(outdir / GENES_FILE))
                        records = genes.tee(records)
                    records = prefilter_records(
                        records,
                        settings.prefilter,
                        pfam_dir,
                        not_tps,
                        settings.threads,
                        training=scorer.training,
                        homolog_cache=homolog_cache_of(model_dir),
                    )
                    if rejects_unembedded:
                        records = reject_missing(records, scorer.precomputed, rejected)
                    if genome:
                        candidates = genome_files.enter_context(
                            CandidateFastaWriter(outdir / CANDIDATES_FILE)
                        )
                        records = candidates.tee(records)
                    counts = screen(records, scorer, outdir, settings, progress=progress)
                if genome:
                    summary["genome"] = genome_stats
                    write_genome_outputs(outdir, input_path, input_format)
                summary["prefilter"] = settings.prefilter
                summary["tps_candidates"] = counts["predicted"]
                summary["not_tps"] = not_tps.total
                summary["records_in"] = counts["predicted"] + not_tps.total + rejected.total
                if counts["predicted"] == 0:
                    summary["message"] = NO_CANDIDATE_MESSAGE.format(
                        valid=summary["records_in"] - rejected.total,
                        input=input_path,
                        not_tps=not_tps.total,
                        rejected=rejected.total,
                    )
                    log.warning(summary["message"])
            else:
                parsed = label_marts_export(input_path, bundle, Path(workdir))
                for row in parsed.rejected.itertuples(index=False):
                    detail = f"{row.detail} (reaction row not used for labels)".strip()
                    rejected.append(
                        Rejection(int(row.source_row), str(row.enzyme_id), str(row.reason), detail)
                    )
                collector = MetricsCollector(scorer.ensemble_ids, bundle.model.baseline_members)
                records = marts_records(parsed.enzymes)
                if rejects_unembedded:
                    records = reject_missing(records, scorer.precomputed, rejected)
                counts = screen(
                    records, scorer, outdir, settings, on_chunk=collector, progress=progress
                )
                summary["rows_in"] = parsed.summary["rows_in"]
                summary["enzymes"] = int(len(parsed.enzymes))
                write_json(marts_metrics(collector, parsed, scorer), outdir / "metrics.json")
        summary.update(counts)
        summary["rejected"] = rejected.total
        summary["rejected_by_reason"] = dict(sorted(rejected.counts.items()))
    summary["seconds"] = round(time.perf_counter() - started, 3)
    # Peak resident memory (Linux reports KiB): this process, and the largest MMseqs2 run.
    summary["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    summary["peak_rss_mib_mmseqs"] = round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
    )
    write_json(summary, outdir / "summary.json")
    return summary


def marts_metrics(collector: MetricsCollector, parsed, scorer: BundleScorer) -> dict:
    """metrics.json of a labelled input: model and baselines as in the training report.

    ``model``/``baselines`` cover every enzyme of the export (the labels.parquet convention
    of the training report: inactive and unlabelled enzymes are all-zero rows);
    ``not_in_training`` repeats them for enzymes whose sequence the model never saw.
    ``reliability_honesty`` checks the expected top-call precision the predictions carry
    against the observed one, per identity band (reliability.prediction_honesty), for
    ``all`` enzymes and those ``not_in_training``.
    """
    truth = parsed.labels.set_index("id")
    reference = set(scorer.training["sequence"])
    unseen = parsed.enzymes.loc[~parsed.enzymes["sequence"].isin(reference), "id"].tolist()
    everything = collector.metrics(truth, scorer.calibration)
    metrics = {
        "plm": {k: v for k, v in scorer.bundle.plm.items() if not isinstance(v, np.ndarray)},
        "n_enzymes": int(len(parsed.enzymes)),
        "n_classes": len(scorer.ensemble_ids),
        "enzymes_by_label_status": parsed.summary["enzymes_by_label_status"],
        "label_coverage": parsed.summary["label_coverage"],
        **everything,
        "not_in_training": (
            collector.metrics(truth, scorer.calibration, unseen) if unseen else {"n_enzymes": 0}
        ),
        "reliability_honesty": reliability_honesty(
            collector, truth, unseen, scorer.bundle.model_reliability()
        ),
    }
    return metrics


def reliability_honesty(
    collector: MetricsCollector, truth: pd.DataFrame, unseen: list[str], table: list[dict] | None
) -> dict:
    """metrics.json's ``reliability_honesty``: the honesty check of ``all`` predicted
    enzymes and of those ``not_in_training`` (ids ``unseen``); without the model's
    reliability ``table`` (an old bundle) both are None, with the reason."""
    if not table:
        return {"all": None, "not_in_training": None, "reason": NO_RELIABILITY_TABLE}
    return {"all": collector.honesty(truth), "not_in_training": collector.honesty(truth, unseen)}
