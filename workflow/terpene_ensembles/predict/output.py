"""The output files of a screening run: predictions.parquet/.tsv and rejected.tsv,
with the per-sequence columns (top ensembles, out-of-domain flags)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from terpene_ensembles.data.sequence_input import (
    REJECTION_COLUMNS,
    Rejection,
)
from terpene_ensembles.io_utils import AtomicTsvWriter, atomic_path
from terpene_ensembles.learning.calibration import called_names
from terpene_ensembles.predict.evidence import TOP_K, PredictionContext, evidence_columns

PROBABILITY_PREFIX = "prob_"
OOD_NO_DOMAIN = "no_tps_pfam_hit"
OOD_NO_NEIGHBOUR = "no_training_enzyme_above_identity_floor"

# Per-sequence columns written before the probability columns.
LEADING_COLUMNS = [
    ("id", pa.string()),
    ("record", pa.int64()),
    ("sequence_sha256", pa.string()),
    ("length", pa.int64()),
    ("called", pa.list_(pa.string())),
    ("support", pa.list_(pa.string())),
    ("top3", pa.list_(pa.string())),
    ("top3_probability", pa.list_(pa.float64())),
    ("nearest_training", pa.list_(pa.string())),
    ("nearest_identity", pa.list_(pa.float64())),
    ("nearest_training_name", pa.string()),
    ("nearest_training_ensembles", pa.list_(pa.string())),
    ("best_identity", pa.float64()),
    ("identity_band", pa.string()),
    ("expected_top_precision", pa.float64()),
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


def summarise_chunk(
    chunk: pd.DataFrame,
    probabilities: np.ndarray,
    ensemble_ids: Sequence[str],
    calls: np.ndarray,
    neighbours: dict[str, tuple[list[str], list[float]]],
    tps_domains: dict[str, list[str]],
    identity_floor: float,
    context: PredictionContext | None = None,
    member_scores: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One output row per sequence of ``chunk`` (columns id, record, sequence_sha256, length).

    ``context`` and ``member_scores`` (raw, per member) fill the evidence
    columns (:mod:`.evidence`); without them those columns are empty."""
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
    called = called_names(probabilities, calls, list(ensemble_ids))
    rows = []
    for i, identifier in enumerate(chunk["id"]):
        near_ids, near_identity = neighbours.get(identifier, ([], []))
        best = max(near_identity) if near_identity else float("nan")
        domains = list(tps_domains.get(identifier, []))
        reason = out_of_domain_reason(domains, best, identity_floor)
        rows.append(
            {
                "called": called[i],
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
    evidence = evidence_columns(
        called,
        member_scores or {},
        list(ensemble_ids),
        frame["nearest_training"].tolist(),
        frame["best_identity"].tolist(),
        context,
    )
    for column, values in evidence.items():
        frame[column] = values
    leading = chunk[["id", "record", "sequence_sha256", "length"]].copy()
    probability_frame = pd.DataFrame(
        probabilities, columns=[PROBABILITY_PREFIX + e for e in ensemble_ids], index=chunk.index
    )
    return pd.concat([leading, frame, probability_frame], axis=1).reset_index(drop=True)


def tsv_view(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists joined with ';' (identities rounded) so the table reads well in a spreadsheet."""
    flat = frame.copy()
    for column in (
        "called",
        "support",
        "top3",
        "nearest_training",
        "nearest_training_ensembles",
        "tps_domains",
    ):
        flat[column] = flat[column].map(";".join)
    for column in ("top3_probability", "nearest_identity"):
        flat[column] = flat[column].map(lambda values: ";".join(f"{v:.4f}" for v in values))
    return flat


class RejectionWriter(AtomicTsvWriter):
    """Rejected records appended to rejected.tsv as they come (a list-like ``append`` sink)."""

    columns = REJECTION_COLUMNS

    def __init__(self, path: str | os.PathLike):
        super().__init__(path)
        self.counts: dict[str, int] = {}

    def append(self, rejection: Rejection) -> None:
        row = rejection.as_row()
        self.write_row([row[column] for column in self.columns])
        self.counts[rejection.reason] = self.counts.get(rejection.reason, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


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
