"""TPS prefilter: which proteins of a proteome are terpene synthase candidates.

A protein is a candidate when at least one of the model's TPS Pfam profiles (the HMMs the
model folder carries in ``pfam/``) scores it at or above the profile's gathering cutoff
(``GA``, the sequence score); a profile without a gathering cutoff counts any hit of at least
:data:`terpene_ensembles.features.domains.SEQUENCE_BITS_THRESHOLD` bits. This is exactly the test
the predict stage uses for ``tps_domains``, so a protein the prefilter drops is one that
predict would have flagged out of domain (``no_tps_pfam_hit``) anyway.

Profiles miss whole TPS families (the seven shipped Pfam models have no prenyltransferase
or class-I-like bacterial model, for instance: 66 of the 991 demo enzymes reach no gathering
cutoff). With ``tps_domain_or_homolog`` (the default) a protein is also a candidate when
MMseqs2 finds it homologous to a characterised training enzyme of the model (at predict's
E-value cutoff, with faster settings than predict's neighbour search: ``homolog_database``).
The training enzymes' database is built once per model, into the model folder's
``homologs/`` (keyed by the training set), and reused by every later run. Held out by whole
clusters (grouped CV folds, ``bench/bench_homolog_recall.py``), this arm finds 62 of those
66 enzymes.

Bit scores do not depend on which other sequences are searched (only E-values do), so the
decision for a protein does not depend on the batch it is searched in. Proteins are read,
searched and handed on in batches of ``batch_size`` (at most two at a time: the arm searches
one while the next is profiled): memory depends on the batch size, not on the proteome.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from terpene_ensembles.data.sequence_input import SequenceRecord, chunked
from terpene_ensembles.errors import ConfigError
from terpene_ensembles.features.alignment_positions import position_table
from terpene_ensembles.features.domains import (
    SEQUENCE_BITS_THRESHOLD,
    domain_feature_table,
    load_profiles,
    search_of_rows,
)
from terpene_ensembles.io_utils import AtomicTsvWriter

LOG = logging.getLogger("terpene_ensembles.predict.prefilter")

TPS_OR_HOMOLOG = "tps_domain_or_homolog"
TPS_DOMAIN = "tps_domain"
NO_PREFILTER = "none"
PREFILTER_MODES = (TPS_OR_HOMOLOG, TPS_DOMAIN, NO_PREFILTER)
NOT_TPS_COLUMNS = ["record", "id", "length", "best_profile", "best_bits"]
# Hits are reported down to this score so that not_tps.tsv can name the closest profile
# (HMMER's own filters still drop most unrelated proteins before any score is computed).
REPORT_BITS = 0.0
DEFAULT_BATCH_SIZE = 10_000


def check_mode(mode: str) -> str:
    if mode not in PREFILTER_MODES:
        raise ConfigError(
            f"unknown prefilter {mode!r}",
            where="predict.prefilter (--prefilter)",
            fix=f"use one of {', '.join(PREFILTER_MODES)}",
        )
    return mode


@dataclass(frozen=True)
class Verdict:
    """The prefilter's decision for one protein."""

    record: SequenceRecord
    candidate: bool
    best_profile: str  # key of the best-scoring profile ("" when nothing was reported)
    best_bits: float  # its sequence bit score (NaN when nothing was reported)

    def not_tps_row(self) -> list:
        bits = "" if self.best_bits != self.best_bits else f"{self.best_bits:.1f}"
        return [self.record.record, self.record.id, len(self.record.sequence),
                self.best_profile, bits]  # fmt: skip


class TpsPrefilter:
    """hmmsearch of the TPS profiles against batches of proteins, on ``threads`` CPUs;
    with ``homologs`` (an object whose ``homologous(sequences)`` returns the positions of
    the sequences homologous to a training enzyme: homolog_database.TrainingHomologDatabase)
    also homology to the training enzymes."""

    def __init__(self, pfam_dir: str | os.PathLike, threads: int = 1, homologs=None):
        import pyhmmer

        self.homologs = homologs

        self.pfam_dir = pfam_dir
        self.hmms, self.profiles = load_profiles(pfam_dir)
        self.threads = max(1, int(threads))
        self.alphabet = pyhmmer.easel.Alphabet.amino()
        # Candidate cutoff per profile: the gathering cutoff, or domains.py's reporting one.
        self.cutoffs = [
            p.gathering if p.gathering is not None else SEQUENCE_BITS_THRESHOLD
            for p in self.profiles
        ]

    def classify(self, records: Sequence[SequenceRecord]) -> list[Verdict]:
        """One verdict per record, in input order."""
        profiled = self._profile(records)
        return self._verdicts(records, profiled, self._submit_arm(records, profiled))

    def _profile(self, records: Sequence[SequenceRecord]) -> ProfilePass:
        """The profile pass: per record, whether some profile reaches its cutoff, and the
        best-scoring profile with its bit score."""
        import pyhmmer

        best_bits = [float("nan")] * len(records)
        best_profile = [""] * len(records)
        candidate = [False] * len(records)
        if not records:
            return ProfilePass(candidate, best_profile, best_bits)
        names = [f"s{index}" for index in range(len(records))]
        block = pyhmmer.easel.DigitalSequenceBlock(
            self.alphabet,
            [
                pyhmmer.easel.TextSequence(name=name, sequence=record.sequence).digitize(
                    self.alphabet
                )
                for name, record in zip(names, records, strict=True)
            ],
        )
        searches = pyhmmer.hmmer.hmmsearch(
            self.hmms, block, cpus=self.threads, T=REPORT_BITS, domT=REPORT_BITS
        )
        hits_by_profile = []
        for profile, cutoff, hits in zip(self.profiles, self.cutoffs, searches, strict=True):
            rows = []
            for hit in hits:
                row = int(hit.name[1:])  # "s<row>" (str or bytes, by pyhmmer version)
                rows.append((row, hit))
                score = float(hit.score)
                if not score <= best_bits[row]:  # also replaces NaN
                    best_bits[row], best_profile[row] = score, profile.key
                if score >= cutoff:
                    candidate[row] = True
            hits_by_profile.append(rows)
        return ProfilePass(candidate, best_profile, best_bits, (self.profiles, hits_by_profile))

    def _with_profile_features(
        self, records: Sequence[SequenceRecord], rows: list[int], profiled: ProfilePass
    ) -> dict[int, SequenceRecord]:
        """The records at ``rows`` carrying their Pfam domain features and alignment
        positions, computed from this pass's hits (domains.search_of_rows): the shards
        and predict's loop read them instead of searching the profiles again."""
        if not rows:
            return {}
        searched = search_of_rows(profiled.searched, rows)
        ids = [records[row].id for row in rows]
        sequences = [records[row].sequence for row in rows]
        domains, _ = domain_feature_table(ids, sequences, self.pfam_dir, searched=searched)
        positions = position_table(ids, sequences, self.pfam_dir, searched=searched)
        carried = pd.concat([domains.drop(columns="id"), positions.drop(columns="id")], axis=1)
        return {
            row: replace(records[row], profile_features=values)
            for row, values in zip(rows, carried.to_dict("records"), strict=True)
        }

    def _submit_arm(self, records: Sequence[SequenceRecord], profiled: ProfilePass):
        """The homology arm's search of the records no profile accepts, started in the
        background (None without the arm)."""
        if self.homologs is None:
            return None
        rest = [i for i in range(len(records)) if not profiled.candidate[i]]
        return rest, self.homologs.submit([records[i].sequence for i in rest])

    def _verdicts(self, records, profiled: ProfilePass, arm) -> list[Verdict]:
        candidate = list(profiled.candidate)
        if arm is not None:
            rest, search = arm
            for position in search.result():
                candidate[rest[position]] = True
        carrying = self._with_profile_features(
            records, [i for i in range(len(records)) if candidate[i]], profiled
        )
        return [
            Verdict(
                carrying.get(i, record), candidate[i], profiled.best_profile[i],
                profiled.best_bits[i],
            )
            for i, record in enumerate(records)
        ]  # fmt: skip

    def screen(
        self,
        records: Iterable[SequenceRecord],
        not_tps: NotTpsWriter | list,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[SequenceRecord]:
        """Yield the candidates in input order; append the others to ``not_tps``.

        The homology arm's search of a batch runs in the background while the next batch
        is read and profiled (the two share the CPUs: MMseqs2's single-threaded steps and
        the profile pass's uneven threads leave cores idle otherwise). Verdicts are those
        of :meth:`classify`, batch by batch."""
        seen = kept = 0
        pending = None  # (batch, profile pass, arm search) awaiting the arm's answer
        try:
            for batch in chunked(records, batch_size):
                profiled = self._profile(batch)
                if pending is not None:
                    done, pending = pending, None
                    seen, kept = yield from self._hand_on(done, not_tps, seen, kept)
                pending = (batch, profiled, self._submit_arm(batch, profiled))
            if pending is not None:
                done, pending = pending, None
                seen, kept = yield from self._hand_on(done, not_tps, seen, kept)
        finally:
            if pending is not None and pending[2] is not None:
                pending[2][1].cancel()

    def _hand_on(self, pending, not_tps, seen: int, kept: int):
        batch, profiled, arm = pending
        for verdict in self._verdicts(batch, profiled, arm):
            if verdict.candidate:
                kept += 1
                yield verdict.record
            else:
                not_tps.append(verdict)
        seen += len(batch)
        LOG.info("prefilter: %d proteins searched, %d TPS candidates", seen, kept)
        return seen, kept


@dataclass(frozen=True)
class ProfilePass:
    """The profile pass's result for a batch, per record."""

    candidate: list[bool]
    best_profile: list[str]  # key of the best-scoring profile ("" when nothing was reported)
    best_bits: list[float]  # its sequence bit score (NaN when nothing was reported)
    # (profiles, per profile [(row, hit)]): every hit of at least REPORT_BITS
    searched: tuple = ((), ())


class NotTpsWriter(AtomicTsvWriter):
    """not_tps.tsv, written as verdicts come (appears atomically when the block ends)."""

    columns = NOT_TPS_COLUMNS

    def __init__(self, path: str | os.PathLike):
        super().__init__(path)
        self.total = 0

    def append(self, verdict: Verdict) -> None:
        self.write_row(verdict.not_tps_row())
        self.total += 1


class NoNotTps(list):
    """The not_tps sink when nothing is prefiltered: no file, nothing appended."""

    total = 0

    def __enter__(self) -> NoNotTps:
        return self

    def __exit__(self, *exc_info) -> bool:
        return False


def not_tps_sink(path: str | os.PathLike, mode: str) -> NotTpsWriter | NoNotTps:
    """not_tps.tsv for the TPS prefilter; no file at all with ``prefilter: none``."""
    return NoNotTps() if check_mode(mode) == NO_PREFILTER else NotTpsWriter(path)


def prefilter_records(
    records: Iterable[SequenceRecord],
    mode: str,
    pfam_dir: str | os.PathLike | None,
    not_tps: NotTpsWriter | list,
    threads: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    training: pd.DataFrame | None = None,
    homolog_cache: str | os.PathLike | None = None,
) -> Iterable[SequenceRecord]:
    """The records to predict: the TPS candidates (``tps_domain``; with
    ``tps_domain_or_homolog`` also the homologs of ``training``, id + sequence of the
    model's training enzymes) or all of them (``none``). ``homolog_cache``: where the
    training enzymes' MMseqs2 database is kept between runs (the model folder's
    ``homologs/``, see :func:`homolog_cache_of`); None builds it for this run only."""
    if check_mode(mode) == NO_PREFILTER:
        return records
    if pfam_dir is None:
        raise ConfigError(
            "the TPS prefilter needs the model's Pfam HMM folder",
            where="--pfam-dir",
            fix="pass --model-dir (its pfam/ copy) or --pfam-dir, or --prefilter none to "
            "score every protein",
        )
    if mode == TPS_DOMAIN:
        return TpsPrefilter(pfam_dir, threads).screen(records, not_tps, batch_size)
    if training is None or training.empty:
        raise ConfigError(
            f"prefilter {mode} needs the model's training enzymes",
            where="--model-dir",
            fix="pass the trained model's folder, or --prefilter tps_domain",
        )
    return _screen_with_homologs(
        records, pfam_dir, not_tps, threads, batch_size, training, homolog_cache
    )


def homolog_cache_of(model_dir: str | os.PathLike | None) -> Path | None:
    """The model folder's ``homologs/``, where the homology arm keeps its database."""
    return None if model_dir is None else Path(model_dir) / "homologs"


def _screen_with_homologs(records, pfam_dir, not_tps, threads, batch_size, training, cache):
    from terpene_ensembles.predict.homolog_database import TrainingHomologDatabase

    with tempfile.TemporaryDirectory(prefix=".prefilter_mmseqs_") as workdir:
        homologs = None
        if cache is not None:
            try:
                homologs = TrainingHomologDatabase(training, cache, threads)
            except PermissionError as error:  # a read-only model folder without it
                LOG.warning("homology arm: %s; building the database for this run only", error)
        if homologs is None:
            homologs = TrainingHomologDatabase(training, workdir, threads)
        yield from TpsPrefilter(pfam_dir, threads, homologs).screen(records, not_tps, batch_size)
