"""The report's inputs: stage outputs read and checked against the file contracts."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from terpene_ensembles import __version__
from terpene_ensembles.io_utils import read_json, sha256_file


@dataclass
class ReportInputs:
    metrics: dict
    enzymes: pd.DataFrame
    labels: pd.DataFrame
    ensembles: pd.DataFrame
    split: pd.DataFrame
    calibrated: pd.DataFrame
    identity: pd.DataFrame
    test_predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    benchmarks: pd.DataFrame = field(default_factory=pd.DataFrame)
    config: dict = field(default_factory=dict)
    parse_summary: dict = field(default_factory=dict)
    split_summary: dict = field(default_factory=dict)
    input_path: str = ""
    input_sha256: str | None = None
    code_version: str = __version__
    generated_at: str = ""

    @property
    def ensemble_ids(self) -> list[str]:
        return [c for c in self.labels.columns if c != "id"]

    @property
    def class_names(self) -> dict[str, str]:
        names = dict(zip(self.ensembles["ensemble_id"], self.ensembles["name"], strict=True))
        return {c: str(names.get(c) or c) for c in self.ensemble_ids}

    @property
    def short_names(self) -> dict[str, str]:
        """Names up to their first colon ("p-menthane: limonene, ..." -> "p-menthane")."""
        return {c: name.split(":")[0].strip() for c, name in self.class_names.items()}


def validate_inputs(inputs: ReportInputs) -> None:
    """Fail early, naming the file, when stage outputs do not fit the file contracts."""
    problems = []
    classes = inputs.ensemble_ids
    ensemble_ids = list(inputs.ensembles.get("ensemble_id", []))
    if classes != ensemble_ids:
        problems.append(
            "parse/labels.parquet columns differ from parse/ensembles.tsv ensemble ids "
            f"({len(classes)} vs {len(ensemble_ids)} classes)"
        )
    required = {
        "calibrated predictions": (inputs.calibrated, ["id", "split", "predictor", *classes]),
        "split/split.tsv": (inputs.split, ["id", "split", "cluster"]),
        "parse/enzymes.parquet": (inputs.enzymes, ["id", "kingdom", "label_status"]),
        "split/pairwise_identity.parquet": (inputs.identity, ["query", "target", "identity"]),
    }
    for name, (frame, columns) in required.items():
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            problems.append(f"{name} lacks columns {missing}")
    if not isinstance(inputs.metrics.get("test"), dict):
        problems.append("metrics.json has no 'test' section")
    if problems:
        raise ValueError("cannot build the report: " + "; ".join(problems))


def _column_mean(frame: pd.DataFrame, column: str) -> float:
    """Mean of a numeric column (NaN when absent or not numeric)."""
    values = pd.to_numeric(frame.get(column), errors="coerce")
    return float(values.mean()) if values is not None else float("nan")


def read_benchmarks(directory: str | os.PathLike, exclude: Iterable[str] = ()) -> pd.DataFrame:
    """Snakemake benchmark files under ``directory`` -> stage, seconds, cpu_seconds,
    max_rss_mb."""
    root = Path(directory)
    excluded = {Path(p).resolve() for p in exclude}
    rows = []
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        if path.resolve() in excluded:
            continue
        frame = pd.read_csv(path, sep="\t")
        if frame.empty or "s" not in frame.columns:
            continue
        # Repeated benchmarks (benchmark: repeat(...)) give several rows: report the mean.
        rows.append(
            {
                "stage": path.relative_to(root).with_suffix("").as_posix(),
                "seconds": _column_mean(frame, "s"),
                "cpu_seconds": _column_mean(frame, "cpu_time"),
                "max_rss_mb": _column_mean(frame, "max_rss"),
            }
        )
    return pd.DataFrame(rows, columns=["stage", "seconds", "cpu_seconds", "max_rss_mb"])


def code_version(repository: str | os.PathLike) -> str:
    """``git describe`` of the workflow checkout, or the package version outside git."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=repository,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    if described:
        return f"{described} (terpene_ensembles {__version__})"
    return f"terpene_ensembles {__version__} (not a git checkout)"


def generation_time() -> str:
    """UTC now, or SOURCE_DATE_EPOCH when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (
        dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC) if epoch else dt.datetime.now(tz=dt.UTC)
    )
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def read_optional_json(path) -> dict:
    return read_json(path) if path and Path(path).is_file() else {}


def read_optional_tsv(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t") if path and Path(path).is_file() else pd.DataFrame()


def load_inputs(
    *,
    metrics,
    enzymes,
    labels,
    ensembles,
    split,
    calibrated,
    identity,
    test_predictions=None,
    benchmarks=None,
    benchmark_exclude=(),
    config: dict | None = None,
    parse_summary=None,
    split_summary=None,
    marts=None,
    repository=None,
) -> ReportInputs:
    config = config or {}
    marts = marts or config.get("marts_csv")
    inputs = ReportInputs(
        metrics=read_json(metrics),
        enzymes=pd.read_parquet(enzymes),
        labels=pd.read_parquet(labels),
        ensembles=pd.read_csv(ensembles, sep="\t", keep_default_na=False),
        split=pd.read_csv(split, sep="\t", dtype={"id": str}),
        calibrated=pd.read_parquet(calibrated),
        identity=pd.read_parquet(identity),
        test_predictions=read_optional_tsv(test_predictions),
        benchmarks=read_benchmarks(benchmarks, benchmark_exclude) if benchmarks else pd.DataFrame(),
        config=config,
        parse_summary=read_optional_json(parse_summary),
        split_summary=read_optional_json(split_summary),
        input_path=str(marts or ""),
        input_sha256=sha256_file(marts) if marts and Path(marts).is_file() else None,
        code_version=code_version(repository) if repository else __version__,
        generated_at=generation_time(),
    )
    validate_inputs(inputs)
    return inputs


# --------------------------------------------------------------------------- helpers on data


def predictor_frame(inputs: ReportInputs, predictor: str, split: str) -> pd.DataFrame:
    """Calibrated probabilities of one predictor on one split, indexed by enzyme id."""
    frame = inputs.calibrated
    rows = frame[(frame["predictor"] == predictor) & (frame["split"] == split)]
    return rows.set_index("id")[inputs.ensemble_ids].astype(float)


def truth_for(inputs: ReportInputs, ids: pd.Index) -> pd.DataFrame:
    labels = inputs.labels.set_index("id")[inputs.ensemble_ids]
    return labels.reindex(ids).fillna(0).astype(int)


def predictors_in(inputs: ReportInputs) -> list[str]:
    return list(dict.fromkeys(inputs.calibrated["predictor"].astype(str)))
