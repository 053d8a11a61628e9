"""Alignment-position features: the residue at each match state of the TPS Pfam profiles.

Product specificity of a terpene synthase is decided by a few dozen residues lining the
active site, which a global identity or a composition summary cannot see. Each enzyme is
aligned to every profile of the Pfam folder (pyhmmer ``hmmsearch``, best domain of at
least ``domains.DOMAIN_BITS_THRESHOLD`` bits); its residue at match state ``i`` of
profile ``P`` is the ``i``-th letter of the string column ``aln_P`` of the positions table
(``-`` for a deletion or an unaligned state). Like every other feature, it depends on the
enzyme's sequence alone.

The learners see these strings through :class:`PositionEncoder`: a sparse one-hot of
(profile, state, residue) over the states that at least ``min_coverage`` of the training
enzymes align to (unsupervised: labels are never read), fitted on training rows only and
stored as plain lists in the model bundle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

GAP = "-"
GAP_CODE = ord(GAP)
COLUMN_PREFIX = "aln_"
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


def match_state_residues(alignment, length: int) -> str:
    """Residue per match state (``GAP`` where deleted or outside the aligned stretch).

    In HMMER's alignment the profile line carries ``.`` where the target sits in an insert
    state; every other column is a match state, whose target letter is a residue or ``-``.
    """
    states = [GAP] * length
    state = alignment.hmm_from - 1
    for profile_char, target_char in zip(
        alignment.hmm_sequence, alignment.target_sequence, strict=True
    ):
        if profile_char == ".":
            continue
        if state < length:
            states[state] = target_char.upper() if target_char.isalpha() else GAP
        state += 1
    return "".join(states)


def position_table(
    ids: list[str],
    sequences: list[str],
    pfam_dir: str | Path,
    threads: int = 1,
    searched: tuple | None = None,
) -> pd.DataFrame:
    """id + one string column ``aln_<profile key>`` (length = profile's match states).

    ``searched``: ``domains.search_profiles`` of these sequences already run (the domain
    features read the same hits), else it runs here."""
    # Imported here: the learners need only the encoder below, not pyhmmer.
    from terpene_ensembles.features.domains import DOMAIN_BITS_THRESHOLD, search_profiles

    profiles, hits_by_profile = searched or search_profiles(sequences, pfam_dir, threads)
    columns = {}
    for profile, hits in zip(profiles, hits_by_profile, strict=True):
        empty = GAP * profile.length
        values = [empty] * len(sequences)
        for row, hit in hits:
            domains = [d for d in hit.domains if d.score >= DOMAIN_BITS_THRESHOLD]
            if domains:
                best = max(domains, key=lambda d: (d.score, -d.env_from))
                values[row] = match_state_residues(best.alignment, profile.length)
        columns[f"{COLUMN_PREFIX}{profile.key}"] = values
    return pd.DataFrame({"id": [str(i) for i in ids], **columns})


def position_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(COLUMN_PREFIX)]


@dataclass
class PositionEncoder:
    """Sparse one-hot of (profile column, state, residue), vocabulary fitted on training rows."""

    columns: list[str]
    states: list[int]  # parallel lists: one entry per one-hot column
    residues: list[str]
    profile_of: list[int]  # index into ``columns``

    @classmethod
    def fit(cls, frame: pd.DataFrame, min_coverage: float = 0.05) -> PositionEncoder:
        columns = position_columns(frame)
        states, residues, profile_of = [], [], []
        alphabet = np.frombuffer(AMINO_ACIDS.encode("ascii"), dtype=np.uint8)  # sorted
        for p, column in enumerate(columns):
            codes = _codes(frame[column])
            if codes.size == 0:
                continue
            covered = np.flatnonzero((codes != GAP_CODE).mean(axis=0) >= min_coverage)
            # present[s, a]: residue a occurs at covered state s (row-major = state order,
            # then residue in alphabetical order)
            present = (codes[:, covered, None] == alphabet[None, None, :]).any(axis=0)
            state_index, residue_index = np.nonzero(present)
            states += covered[state_index].tolist()
            residues += [AMINO_ACIDS[i] for i in residue_index]
            profile_of += [p] * len(state_index)
        return cls(columns, states, residues, profile_of)

    def transform(self, frame: pd.DataFrame) -> sparse.csr_matrix:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"positions table lacks columns {missing}")
        n = len(frame)
        rows, cols = [], []
        states = np.asarray(self.states, dtype=np.int64)
        residues = np.frombuffer("".join(self.residues).encode("ascii"), dtype=np.uint8)
        profile_of = np.asarray(self.profile_of, dtype=np.int64)
        for p, column in enumerate(self.columns):
            mine = np.flatnonzero(profile_of == p)
            if not len(mine):
                continue
            letters = _codes(frame[column])[:, states[mine]]  # (n, columns of this profile)
            r, c = np.nonzero(letters == residues[mine][None, :])
            rows.append(r)
            cols.append(mine[c])
        rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        cols = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        data = np.ones(len(rows), dtype=np.float64)
        return sparse.csr_matrix((data, (rows, cols)), shape=(n, len(self.states)))

    def names(self) -> list[str]:
        return [
            f"{self.columns[p]}:{state + 1}{residue}"
            for p, state, residue in zip(self.profile_of, self.states, self.residues, strict=True)
        ]

    def to_dict(self) -> dict:
        return {
            "columns": list(self.columns),
            "states": list(self.states),
            "residues": list(self.residues),
            "profile_of": list(self.profile_of),
        }

    @classmethod
    def from_dict(cls, payload: dict) -> PositionEncoder:
        return cls(
            [str(c) for c in payload["columns"]],
            [int(s) for s in payload["states"]],
            [str(r) for r in payload["residues"]],
            [int(p) for p in payload["profile_of"]],
        )


def _codes(values: pd.Series) -> np.ndarray:
    """(n, M) uint8 array of ASCII codes from equal-length strings (one letter per state)."""
    strings = values.astype(str).tolist()
    if not strings:
        return np.empty((0, 0), dtype=np.uint8)
    lengths = {len(s) for s in strings}
    if len(lengths) != 1:
        raise ValueError(f"{values.name}: aligned strings differ in length {sorted(lengths)[:3]}")
    raw = np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8)
    return raw.reshape(len(strings), lengths.pop())
