"""Screen new sequences with a trained model: calls, evidence and trust flags per sequence.

Input is streamed in chunks (see :mod:`terpene_ensembles.sequence_input`); each chunk is
featurised, scored, compared with the training enzymes (MMseqs2) and appended to the
output files, so peak memory depends on the chunk size, not on the input size.
"""

from __future__ import annotations

import csv
import logging
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from terpene_ensembles.errors import ConfigError, UserInputError
from terpene_ensembles.homology import (
    DEFAULT_EVALUE,
    DEFAULT_MAX_SEQS,
    DEFAULT_SENSITIVITY,
    find_mmseqs,
)
from terpene_ensembles.io_utils import atomic_path, write_json
from terpene_ensembles.sequence_input import (
    FASTA,
    REJECTION_COLUMNS,
    InputFormatError,
    Rejection,
    SequenceRecord,
    chunked,
    detect_input_format,
    iter_fasta,
)

PROBABILITY_PREFIX = "prob_"
TOP_K = 3
# Columns of the MMseqs2 tabular output used for the nearest-neighbour evidence.
MMSEQS_COLUMNS = ["query", "target", "fident", "qcov", "tcov", "evalue", "bits"]
OOD_NO_DOMAIN = "no_tps_pfam_hit"
OOD_NO_NEIGHBOUR = "no_training_enzyme_above_identity_floor"

# Per-sequence columns written before the probability columns.
LEADING_COLUMNS = [
    ("id", pa.string()),
    ("record", pa.int64()),
    ("sequence_sha256", pa.string()),
    ("length", pa.int64()),
    ("called", pa.list_(pa.string())),
    ("top3", pa.list_(pa.string())),
    ("top3_probability", pa.list_(pa.float64())),
    ("nearest_training", pa.list_(pa.string())),
    ("nearest_identity", pa.list_(pa.float64())),
    ("best_identity", pa.float64()),
    ("tps_domains", pa.list_(pa.string())),
    ("out_of_domain", pa.bool_()),
    ("ood_reason", pa.string()),
]


def prediction_schema(ensemble_ids: Sequence[str]) -> pa.Schema:
    fields = [pa.field(name, kind) for name, kind in LEADING_COLUMNS]
    fields += [pa.field(PROBABILITY_PREFIX + e, pa.float64()) for e in ensemble_ids]
    return pa.schema(fields)


def top_ensembles(
    probabilities: np.ndarray, ensemble_ids: Sequence[str], k: int = TOP_K
) -> tuple[list[list[str]], list[list[float]]]:
    """The k most probable ensembles per row; ties broken by vocabulary order (stable)."""
    order = np.argsort(-np.asarray(probabilities, dtype=float), axis=1, kind="stable")[:, :k]
    names = [[ensemble_ids[j] for j in row] for row in order]
    values = [[float(probabilities[i, j]) for j in row] for i, row in enumerate(order)]
    return names, values


def out_of_domain_reason(tps_domains: Sequence[str], best_identity: float, floor: float) -> str:
    """'' when a call can be trusted, else the ';'-joined reasons it cannot."""
    reasons = []
    if len(tps_domains) == 0:
        reasons.append(OOD_NO_DOMAIN)
    if not best_identity >= floor:  # also true for NaN (no hit at all)
        reasons.append(OOD_NO_NEIGHBOUR)
    return ";".join(reasons)


def write_fasta(records: Iterable[tuple[str, str]], path: str | os.PathLike) -> None:
    with open(path, "w") as handle:
        for identifier, sequence in records:
            handle.write(f">{identifier}\n{sequence}\n")


class TrainingNeighbourSearch:
    """MMseqs2 search of query chunks against the characterised training enzymes.

    The training database is built once; each chunk is one ``mmseqs easy-search`` call with
    the settings of the split stage's all-vs-all search (homology.pairwise_identity), so the
    kNN member of the model sees the same neighbours it was trained and calibrated with.
    """

    def __init__(
        self,
        training: pd.DataFrame,
        workdir: str | os.PathLike,
        threads: int = 1,
        sensitivity: float = DEFAULT_SENSITIVITY,
        max_evalue: float = DEFAULT_EVALUE,
        max_seqs: int = DEFAULT_MAX_SEQS,
    ):
        if training.empty:
            raise ValueError("the model has no training sequences to compare against")
        self.workdir = Path(workdir)
        self.threads = threads
        self.sensitivity = sensitivity
        self.max_evalue = max_evalue
        self.max_seqs = max_seqs
        self.executable = find_mmseqs()
        self.workdir.mkdir(parents=True, exist_ok=True)
        fasta = self.workdir / "training.fasta"
        write_fasta(zip(training["id"], training["sequence"], strict=True), fasta)
        self.database = self.workdir / "training_db"
        self._mmseqs("createdb", str(fasta), str(self.database))

    def _mmseqs(self, *arguments: str) -> None:
        command = [self.executable, *arguments, "-v", "1"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}"
            )

    def search(self, queries: Sequence[tuple[str, str]]) -> pd.DataFrame:
        """Hits of each query against the training set: MMSEQS_COLUMNS, identity as 0-1."""
        if not queries:
            return pd.DataFrame(columns=[*MMSEQS_COLUMNS, "identity"])
        with tempfile.TemporaryDirectory(dir=self.workdir) as scratch:
            scratch = Path(scratch)
            query_fasta = scratch / "queries.fasta"
            hits_path = scratch / "hits.tsv"
            # Positional ids avoid any trouble with characters MMseqs2 treats specially.
            write_fasta(((f"q{i}", seq) for i, (_, seq) in enumerate(queries)), query_fasta)
            self._mmseqs(
                "easy-search",
                str(query_fasta),
                str(self.database),
                str(hits_path),
                str(scratch / "tmp"),
                "--format-output",
                ",".join(MMSEQS_COLUMNS),
                "-s",
                str(self.sensitivity),
                "-e",
                str(self.max_evalue),
                "--max-seqs",
                str(self.max_seqs),
                "--alignment-mode",
                "3",
                "--threads",
                str(self.threads),
            )
            hits = pd.read_csv(hits_path, sep="\t", names=MMSEQS_COLUMNS, header=None)
        position_to_id = {f"q{i}": identifier for i, (identifier, _) in enumerate(queries)}
        hits["query"] = hits["query"].map(position_to_id)
        hits["target"] = hits["target"].astype(str)
        hits["identity"] = hits["fident"].astype(float)
        return hits


def nearest_neighbours(
    hits: pd.DataFrame, query_ids: Sequence[str], k: int = TOP_K
) -> dict[str, tuple[list[str], list[float]]]:
    """Per query: the k training enzymes of highest identity (ties: higher bit score)."""
    result = {identifier: ([], []) for identifier in query_ids}
    if hits.empty:
        return result
    ranked = hits.sort_values(
        ["query", "fident", "bits", "target"], ascending=[True, False, False, True]
    ).drop_duplicates(["query", "target"])
    for query, group in ranked.groupby("query", sort=False):
        top = group.head(k)
        result[query] = (top["target"].tolist(), [float(v) for v in top["fident"]])
    return result


def summarise_chunk(
    chunk: pd.DataFrame,
    probabilities: np.ndarray,
    ensemble_ids: Sequence[str],
    calls: np.ndarray,
    neighbours: dict[str, tuple[list[str], list[float]]],
    tps_domains: dict[str, list[str]],
    identity_floor: float,
) -> pd.DataFrame:
    """One output row per sequence of ``chunk`` (columns id, record, sequence_sha256, length)."""
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.shape != (len(chunk), len(ensemble_ids)):
        raise ValueError(
            f"probabilities have shape {probabilities.shape}, expected "
            f"({len(chunk)}, {len(ensemble_ids)})"
        )
    calls = np.asarray(calls, dtype=bool)
    if calls.shape != probabilities.shape:
        raise ValueError(f"calls have shape {calls.shape}, probabilities {probabilities.shape}")
    top_names, top_values = top_ensembles(probabilities, ensemble_ids)
    rows = []
    for i, identifier in enumerate(chunk["id"]):
        near_ids, near_identity = neighbours.get(identifier, ([], []))
        best = max(near_identity) if near_identity else float("nan")
        domains = list(tps_domains.get(identifier, []))
        reason = out_of_domain_reason(domains, best, identity_floor)
        rows.append(
            {
                "called": [e for e, hit in zip(ensemble_ids, calls[i], strict=True) if hit],
                "top3": top_names[i],
                "top3_probability": top_values[i],
                "nearest_training": list(near_ids),
                "nearest_identity": list(near_identity),
                "best_identity": best,
                "tps_domains": domains,
                "out_of_domain": bool(reason),
                "ood_reason": reason,
            }
        )
    frame = pd.DataFrame(rows, index=chunk.index)
    leading = chunk[["id", "record", "sequence_sha256", "length"]].copy()
    probability_frame = pd.DataFrame(
        probabilities, columns=[PROBABILITY_PREFIX + e for e in ensemble_ids], index=chunk.index
    )
    return pd.concat([leading, frame, probability_frame], axis=1).reset_index(drop=True)


def tsv_view(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists joined with ';' (identities rounded) so the table reads well in a spreadsheet."""
    flat = frame.copy()
    for column in ("called", "top3", "nearest_training", "tps_domains"):
        flat[column] = flat[column].map(";".join)
    for column in ("top3_probability", "nearest_identity"):
        flat[column] = flat[column].map(lambda values: ";".join(f"{v:.4f}" for v in values))
    return flat


class RejectionWriter:
    """Rejected records appended to rejected.tsv as they come (a list-like ``append`` sink)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.counts: dict[str, int] = {}

    def __enter__(self) -> RejectionWriter:
        self._stack = ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._handle = self._stack.enter_context(open(tmp, "w", newline=""))
        self._writer = csv.writer(self._handle, delimiter="\t", lineterminator="\n")
        self._writer.writerow(REJECTION_COLUMNS)
        return self

    def append(self, rejection: Rejection) -> None:
        row = rejection.as_row()
        self._writer.writerow([row[column] for column in REJECTION_COLUMNS])
        self.counts[rejection.reason] = self.counts.get(rejection.reason, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __exit__(self, *exc_info) -> bool:
        return self._stack.__exit__(*exc_info)


class PredictionWriter:
    """Append chunks to predictions.parquet and predictions.tsv; both appear atomically on close.

    Use as a context manager: on an exception neither file is left under its final name.
    """

    def __init__(self, outdir: str | os.PathLike, ensemble_ids: Sequence[str]):
        self.outdir = Path(outdir)
        self.schema = prediction_schema(ensemble_ids)
        self.rows = 0
        self._stack = ExitStack()

    def __enter__(self) -> PredictionWriter:
        parquet_tmp = self._stack.enter_context(atomic_path(self.outdir / "predictions.parquet"))
        tsv_tmp = self._stack.enter_context(atomic_path(self.outdir / "predictions.tsv"))
        self._parquet = pq.ParquetWriter(parquet_tmp, self.schema)
        self._tsv = open(tsv_tmp, "w", newline="")
        self._tsv.write("\t".join(self.schema.names) + "\n")
        return self

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(
            frame[self.schema.names], schema=self.schema, preserve_index=False
        )
        self._parquet.write_table(table)
        tsv_view(frame[self.schema.names]).to_csv(
            self._tsv, sep="\t", index=False, header=False, float_format="%.6g"
        )
        self.rows += len(frame)

    def __exit__(self, *exc_info) -> bool:
        self._parquet.close()
        self._tsv.close()
        # On an exception atomic_path removes the temporary files instead of moving them.
        return self._stack.__exit__(*exc_info)


@dataclass(frozen=True)
class ScreeningSettings:
    chunk_size: int = 1000
    identity_floor: float = 0.3  # best training identity below this -> out of domain
    neighbours: int = TOP_K
    threads: int = 1
    mmseqs_sensitivity: float = DEFAULT_SENSITIVITY
    kingdom: str = ""  # MARTS kingdom of FASTA records (a feature); "" = unknown
    # FASTA only: "tps_domain" predicts only TPS candidates (screening.prefilter), "none" all.
    prefilter: str = "none"

    def __post_init__(self):
        if self.chunk_size < 1:
            raise ConfigError(
                f"chunk_size must be >= 1, got {self.chunk_size}", where="predict.chunk_size"
            )
        if not 0 <= self.identity_floor <= 1:
            raise ConfigError(
                f"identity_floor must be in [0, 1], got {self.identity_floor}",
                where="predict.identity_floor",
            )


@dataclass
class ChunkScores:
    """What a scorer returns for one chunk, rows in chunk order."""

    probabilities: np.ndarray  # calibrated model probabilities, shape (rows, ensembles)
    calls: np.ndarray  # bool, ensembles called at the calibrated thresholds
    tps_domains: dict[str, list[str]]  # id -> TPS Pfam families hit
    # Calibrated probabilities of every predictor (model and baselines), for metrics.
    predictors: dict[str, np.ndarray] = field(default_factory=dict)


class ChunkScorer(Protocol):
    """A trained model as the screening loop sees it (BundleScorer is the real one)."""

    ensemble_ids: list[str]
    training: pd.DataFrame  # id, sequence of the characterised training enzymes

    def score(self, chunk: pd.DataFrame, hits: pd.DataFrame) -> ChunkScores: ...


def records_frame(records: Sequence[SequenceRecord]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [r.id for r in records],
            "record": [r.record for r in records],
            "sequence": [r.sequence for r in records],
            "sequence_sha256": [r.sequence_sha256 for r in records],
            "length": [len(r.sequence) for r in records],
            "kingdom": [r.kingdom for r in records],
        }
    )


def screen(
    records: Iterable[SequenceRecord],
    scorer: ChunkScorer,
    outdir: str | os.PathLike,
    settings: ScreeningSettings,
    on_chunk: Callable[[pd.DataFrame, ChunkScores, pd.DataFrame], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Predict every record, chunk by chunk; write predictions.parquet/.tsv under ``outdir``.

    ``on_chunk(chunk, scores, predictions)`` sees each chunk (used to collect metrics);
    ``progress(n)`` is told the number of sequences each finished chunk held.
    Returns counts for the summary.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger("terpene_ensembles.predict")
    counts = {"predicted": 0, "out_of_domain": 0, "chunks": 0}
    with (
        tempfile.TemporaryDirectory(prefix=".mmseqs_", dir=outdir) as workdir,
        PredictionWriter(outdir, scorer.ensemble_ids) as writer,
    ):
        search = TrainingNeighbourSearch(
            scorer.training, workdir, settings.threads, settings.mmseqs_sensitivity
        )
        for chunk_records in chunked(records, settings.chunk_size):
            chunk = records_frame(chunk_records)
            hits = search.search(list(zip(chunk["id"], chunk["sequence"], strict=True)))
            neighbours = nearest_neighbours(hits, chunk["id"].tolist(), settings.neighbours)
            scores = scorer.score(chunk, hits)
            predictions = summarise_chunk(
                chunk,
                scores.probabilities,
                scorer.ensemble_ids,
                scores.calls,
                neighbours,
                scores.tps_domains,
                settings.identity_floor,
            )
            writer.write(predictions)
            if on_chunk is not None:
                on_chunk(chunk, scores, predictions)
            counts["predicted"] += len(predictions)
            counts["out_of_domain"] += int(predictions["out_of_domain"].sum())
            counts["chunks"] += 1
            log.info("predicted %d sequences", counts["predicted"])
            if progress is not None:
                progress(len(predictions))
    return counts


# --- the trained model -------------------------------------------------------------------


class ModelCompatibilityError(UserInputError, ValueError):
    """The model directory cannot be used with this code or this configuration."""


def load_compatible_bundle(model_dir: str | os.PathLike, plm_config: dict | None) -> dict:
    """Load the bundle; raise ModelCompatibilityError on a wrong format or a different PLM.

    ``plm_config`` is the run's ``plm`` section (None: take the model's own PLM).
    """
    from terpene_ensembles.model_bundle import FORMAT_VERSION, BundleError, load_bundle

    try:
        bundle = load_bundle(model_dir)
    except BundleError as error:
        raise ModelCompatibilityError(
            f"model directory {model_dir}: {error}. This code reads bundle format "
            f"{FORMAT_VERSION}; retrain with this version of the workflow."
        ) from error
    except Exception as error:  # a truncated or foreign bundle.pt
        raise ModelCompatibilityError(
            f"model directory {model_dir}: bundle.pt is unreadable ({error})"
        ) from error
    trained = bundle["plm"]
    trained_model = trained.get("model", "none")
    if plm_config is None:
        return bundle
    wanted_model = plm_config.get("model") if plm_config.get("enabled", True) else "none"
    if wanted_model != trained_model:
        raise ModelCompatibilityError(
            f"model directory {model_dir} was trained with PLM {trained_model!r}, but the "
            f"configuration asks for {wanted_model!r} (plm.enabled/plm.model): embeddings "
            "from another PLM are meaningless to this model; use the training configuration"
        )
    return bundle


def plm_settings_for(bundle: dict, plm_config: dict | None) -> dict | None:
    """The plm settings to embed new sequences with (None when no member uses the PLM)."""
    from terpene_ensembles.model_bundle import uses_plm

    trained = bundle["plm"]
    if trained.get("model", "none") == "none" or not uses_plm(bundle):
        return None
    if plm_config is not None:
        return dict(plm_config)
    # Outside Snakemake: the model's own PLM, from the checkpoint it was trained with.
    return {
        "enabled": True,
        "model": trained["model"],
        "checkpoint": trained.get("weights_path"),
        "layer": int(trained["layer"]) if trained.get("layer") is not None else -1,
    }


Featurizer = Callable[
    [pd.DataFrame], tuple[pd.DataFrame, dict[str, list[str]], pd.DataFrame | None]
]


def default_featurizer(
    bundle: dict, pfam_dir: str | os.PathLike | None, threads: int = 1
) -> Featurizer:
    """The features stage's own code, so new sequences get exactly the training features
    (and alignment positions, when the model uses them).

    A TPS domain hit is a Pfam profile reaching its gathering cutoff (or, for a profile
    without one, any reported hit).
    """
    from terpene_ensembles.alignment_positions import position_table
    from terpene_ensembles.domains import load_profiles
    from terpene_ensembles.model_bundle import uses_positions
    from terpene_ensembles.sequence_features import feature_table

    if pfam_dir is None or not Path(pfam_dir).is_dir():
        raise ModelCompatibilityError(
            f"Pfam HMM folder {pfam_dir} not found: pass the folder the model was trained "
            "with (features.pfam_dir; --pfam-dir outside Snakemake)"
        )
    _, profiles = load_profiles(pfam_dir)
    trained = {
        c for c in bundle["feature_columns"] if c.startswith("pfam_") and c.endswith("_bits")
    }
    given = {f"pfam_{p.key}_bits" for p in profiles}
    if trained != given:
        raise ModelCompatibilityError(
            f"the Pfam profiles in {pfam_dir} ({sorted(given)}) are not those the model was "
            f"trained with ({sorted(trained)})"
        )

    def featurize(chunk: pd.DataFrame):
        features, _ = feature_table(chunk, pfam_dir, threads)
        positions = (
            position_table(chunk["id"].tolist(), chunk["sequence"].tolist(), pfam_dir, threads)
            if uses_positions(bundle)
            else None
        )
        hit = {}
        for profile in profiles:
            if profile.gathering is not None:
                hit[profile.key] = features[f"pfam_{profile.key}_gathering"].to_numpy() > 0
            else:
                hit[profile.key] = features[f"pfam_{profile.key}_bits"].to_numpy() > 0
        domains = {
            identifier: [key for key, flags in hit.items() if flags[row]]
            for row, identifier in enumerate(features["id"])
        }
        return features, domains, positions

    return featurize


class BundleScorer:
    """Scores chunks with a trained model bundle (model_bundle.score), embedding if needed.

    ``featurizer(chunk) -> (features, tps_domains)`` computes the sequence features of the
    chunk (id + the bundle's feature columns) and the TPS Pfam families hit per id.
    """

    def __init__(
        self,
        bundle: dict,
        featurizer: Featurizer,
        plm_settings: dict | None = None,
        cache_dir: str | os.PathLike | None = None,
        threads: int | None = None,
    ):
        self.bundle = bundle
        self.featurizer = featurizer
        self.ensemble_ids = list(bundle["ensemble_ids"])
        from terpene_ensembles.model_bundle import reference_sequences

        self.training = reference_sequences(bundle)
        self.cache_dir = cache_dir
        self.embedder = None
        if plm_settings is not None:
            from terpene_ensembles.embedding import Embedder

            self.embedder = Embedder.from_config(plm_settings, threads=threads)
            trained_sha = bundle["plm"].get("weights_sha256")
            if trained_sha and self.embedder.loaded.weights_sha256 != trained_sha:
                raise ModelCompatibilityError(
                    f"PLM weights {self.embedder.loaded.weights_path} (sha256 "
                    f"{self.embedder.loaded.weights_sha256[:12]}...) are not the weights the "
                    f"model was trained with (sha256 {trained_sha[:12]}...)"
                )
            trained_layer = bundle["plm"].get("layer")
            if trained_layer is not None and self.embedder.layer != int(trained_layer):
                raise ModelCompatibilityError(
                    f"the configuration embeds with PLM layer {self.embedder.layer}, the model "
                    f"was trained on layer {trained_layer} (plm.layer)"
                )

    @property
    def calibration(self) -> dict:
        """thresholds.json layout, as metrics.predictor_metrics expects it."""
        return {
            "settings": {"always_call_top": bool(self.bundle["always_call_top"])},
            "predictors": self.bundle["calibration"],
        }

    def score(self, chunk: pd.DataFrame, hits: pd.DataFrame) -> ChunkScores:
        from terpene_ensembles.model_bundle import score

        features, tps_domains, positions = self.featurizer(chunk[["id", "sequence", "kingdom"]])
        embeddings = None
        if self.embedder is not None:
            matrix = self.embedder.embed(
                chunk["sequence"].tolist(),
                cache_dir=self.cache_dir,
                progress=False,
                ids=chunk["id"].tolist(),
            )
            embeddings = pd.DataFrame({"id": chunk["id"].to_numpy(), "embedding": list(matrix)})
        scored = score(self.bundle, features, embeddings, hits, positions)
        order = chunk["id"].astype(str).to_numpy()
        predictors = {
            name.split("/", 1)[1]: frame.loc[order].to_numpy(dtype=float)
            for name, frame in scored.items()
            if name.startswith("calibrated/")
        }
        return ChunkScores(
            probabilities=predictors["model"],
            calls=scored["calls"].loc[order].to_numpy(dtype=bool),
            tps_domains=tps_domains,
            predictors=predictors,
        )


# --- whole runs --------------------------------------------------------------------------


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


def label_marts_export(input_path, bundle: dict, workdir: Path):
    """Parse an export with the model's frozen vocabulary: ParseOutputs (enzymes, labels, ...)."""
    from terpene_ensembles.marts import MartsFormatError
    from terpene_ensembles.parse_stage import run_parse

    vocabulary = workdir / "ensembles.tsv"
    pd.DataFrame(bundle["ensembles"]).to_csv(vocabulary, sep="\t", index=False)
    try:
        return run_parse(input_path, None, {"frozen_vocabulary": str(vocabulary)})
    except MartsFormatError as error:
        raise InputFormatError(str(error)) from error


class MetricsCollector:
    """Keeps every predictor's calibrated probabilities of a labelled input, chunk by chunk."""

    def __init__(self, ensemble_ids: list[str]):
        self.ensemble_ids = ensemble_ids
        self.frames: list[pd.DataFrame] = []

    def __call__(self, chunk: pd.DataFrame, scores: ChunkScores, predictions: pd.DataFrame):
        for predictor, values in scores.predictors.items():
            frame = pd.DataFrame(values, columns=self.ensemble_ids)
            frame.insert(0, "predictor", predictor)
            frame.insert(0, "split", "predict")
            frame.insert(0, "id", chunk["id"].to_numpy())
            self.frames.append(frame)

    def metrics(self, truth: pd.DataFrame, calibration: dict, ids=None) -> dict:
        """metrics.predictor_metrics over ``ids`` (default: every predicted enzyme)."""
        from terpene_ensembles.metrics import predictor_metrics

        calibrated = pd.concat(self.frames, ignore_index=True)
        if ids is not None:
            calibrated = calibrated[calibrated["id"].isin(set(ids))]
        result = predictor_metrics(calibrated, truth, calibration, self.ensemble_ids, "predict")
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
) -> dict:
    """Predict a FASTA file or a MARTS-DB export; write every output; return the summary.

    ``progress(n)``, when given, is called after each chunk with its number of sequences.

    Raises InputFormatError (input is not FASTA/MARTS) or ModelCompatibilityError before
    any output is written.
    """
    started = time.perf_counter()
    outdir = Path(outdir)
    input_format = detect_input_format(input_path)
    bundle = load_compatible_bundle(model_dir, plm_config)
    if featurizer is None:
        featurizer = default_featurizer(bundle, pfam_dir, settings.threads)
    scorer = BundleScorer(
        bundle, featurizer, plm_settings_for(bundle, plm_config), cache_dir, settings.threads
    )
    outdir.mkdir(parents=True, exist_ok=True)
    summary = {
        "input": str(input_path),
        "input_format": input_format,
        "model_dir": str(model_dir),
        "plm": {k: v for k, v in bundle["plm"].items() if not isinstance(v, np.ndarray)},
        "settings": asdict(settings),
    }
    with tempfile.TemporaryDirectory(prefix=".predict_", dir=outdir) as workdir:
        with RejectionWriter(outdir / "rejected.tsv") as rejected:
            if input_format == FASTA:
                records = (
                    replace(record, kingdom=settings.kingdom)
                    for record in iter_fasta(input_path, rejected)
                )
                # --- issue 14 hook: TPS prefilter (terpene_ensembles.screening) ---
                from terpene_ensembles.screening.prefilter import not_tps_sink, prefilter_records
                from terpene_ensembles.screening.shards import NO_CANDIDATE_MESSAGE

                with not_tps_sink(outdir / "not_tps.tsv", settings.prefilter) as not_tps:
                    records = prefilter_records(
                        records, settings.prefilter, pfam_dir, not_tps, settings.threads
                    )
                    counts = screen(records, scorer, outdir, settings, progress=progress)
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
                    logging.getLogger("terpene_ensembles.predict").warning(summary["message"])
                # --- end of issue 14 hook ---
            else:
                parsed = label_marts_export(input_path, bundle, Path(workdir))
                for row in parsed.rejected.itertuples(index=False):
                    detail = f"{row.detail} (reaction row not used for labels)".strip()
                    rejected.append(
                        Rejection(int(row.source_row), str(row.enzyme_id), str(row.reason), detail)
                    )
                collector = MetricsCollector(scorer.ensemble_ids)
                records = marts_records(parsed.enzymes)
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
    """
    truth = parsed.labels.set_index("id")
    reference = set(scorer.training["sequence"])
    unseen = parsed.enzymes.loc[~parsed.enzymes["sequence"].isin(reference), "id"].tolist()
    everything = collector.metrics(truth, scorer.calibration)
    metrics = {
        "plm": {k: v for k, v in scorer.bundle["plm"].items() if not isinstance(v, np.ndarray)},
        "n_enzymes": int(len(parsed.enzymes)),
        "n_classes": len(scorer.ensemble_ids),
        "enzymes_by_label_status": parsed.summary["enzymes_by_label_status"],
        "label_coverage": parsed.summary["label_coverage"],
        **everything,
        "not_in_training": (
            collector.metrics(truth, scorer.calibration, unseen) if unseen else {"n_enzymes": 0}
        ),
    }
    return metrics
