"""Pfam domain features: pyhmmer ``hmmsearch`` of every HMM in a folder against the enzymes.

Only bit scores are used (never E-values, which depend on how many sequences are searched),
and HMMER scores each target on its own, so an enzyme's domain features do not depend on
which other enzymes are in the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from terpene_ensembles.errors import UserInputError
from terpene_ensembles.io_utils import sha256_file

# Reporting thresholds (bits) for a sequence and for one of its domains; weaker matches are
# noise for 100-300-residue profiles and count as "no hit" (score 0).
SEQUENCE_BITS_THRESHOLD = 10.0
DOMAIN_BITS_THRESHOLD = 10.0
ABSENT_POSITION = -1.0
HMM_SUFFIXES = (".hmm", ".HMM")


@dataclass(frozen=True)
class Profile:
    key: str  # column stem: the accession without version, e.g. PF01397
    name: str
    accession: str
    length: int
    gathering: float | None
    source: str


class PfamFolderError(UserInputError, FileNotFoundError):
    """The Pfam HMM folder is missing or holds no HMMs."""

    fix = (
        "point features.pfam_dir (predict: --pfam-dir) at a folder of HMMER3 text profiles "
        "(*.hmm), e.g. the Pfam TPS families in resources/demo/pfam"
    )


class PfamProfileError(UserInputError, ValueError):
    """A Pfam HMM file the features cannot use."""

    fix = "keep one protein HMM per Pfam family in features.pfam_dir"


def profile_files(pfam_dir: str | Path) -> list[Path]:
    """The HMM files of ``pfam_dir`` the features read (*.hmm, sorted by name)."""
    folder = Path(pfam_dir)
    if not folder.is_dir():
        raise PfamFolderError(f"Pfam HMM folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix in HMM_SUFFIXES and p.is_file())
    if not files:
        raise PfamFolderError(f"no *.hmm files in {folder}")
    return files


def profile_checksums(pfam_dir: str | Path) -> dict[str, str]:
    """File name -> sha256 of every HMM file of ``pfam_dir`` (:func:`profile_files`)."""
    return {path.name: sha256_file(path) for path in profile_files(pfam_dir)}


def load_profiles(pfam_dir: str | Path):
    """Read every HMMER3 profile of ``pfam_dir`` (files *.hmm, sorted by name)."""
    import pyhmmer

    folder = Path(pfam_dir)
    hmms, profiles = [], []
    for path in profile_files(folder):
        with pyhmmer.plan7.HMMFile(path) as handle:
            for hmm in handle:
                if hmm.alphabet != pyhmmer.easel.Alphabet.amino():
                    raise PfamProfileError(f"{path}: profile {hmm.name} is not a protein HMM")
                accession = hmm.accession or ""
                key = re.sub(r"[^A-Za-z0-9_]", "_", accession.split(".")[0] or hmm.name)
                gathering = hmm.cutoffs.gathering[0] if hmm.cutoffs.gathering_available() else None
                hmms.append(hmm)
                profiles.append(Profile(key, hmm.name, accession, hmm.M, gathering, path.name))
    keys = [p.key for p in profiles]
    if len(set(keys)) != len(keys):
        raise PfamProfileError(f"duplicate profiles in {folder}: {sorted(keys)}")
    return hmms, profiles


def search_profiles(sequences: list[str], pfam_dir: str | Path, threads: int = 1):
    """hmmsearch of every profile of ``pfam_dir`` against ``sequences``.

    Returns (profiles, per profile a list of (row index, hit)) for hits of at least
    :data:`SEQUENCE_BITS_THRESHOLD` bits.
    """
    import pyhmmer

    hmms, profiles = load_profiles(pfam_dir)
    alphabet = pyhmmer.easel.Alphabet.amino()
    names = [f"s{index:06d}" for index in range(len(sequences))]
    try:
        digital = [
            pyhmmer.easel.TextSequence(name=name, sequence=sequence).digitize(alphabet)
            for name, sequence in zip(names, sequences, strict=True)
        ]
    except ValueError as error:
        raise ValueError(f"a sequence has letters outside the protein alphabet: {error}") from error
    block = pyhmmer.easel.DigitalSequenceBlock(alphabet, digital)
    row_of = {name: row for row, name in enumerate(names)}
    searches = pyhmmer.hmmer.hmmsearch(
        hmms,
        block,
        cpus=max(1, int(threads)),
        T=SEQUENCE_BITS_THRESHOLD,
        domT=DOMAIN_BITS_THRESHOLD,
    )
    return profiles, [[(row_of[hit.name], hit) for hit in hits] for hits in searches]


def search_of_rows(searched: tuple, rows: list[int]) -> tuple:
    """:func:`search_profiles` of the sequences at ``rows`` of a searched block (renumbered
    0.. in that order), from that block's search at a threshold of at most
    :data:`SEQUENCE_BITS_THRESHOLD` bits: hits under it are dropped, as
    :func:`search_profiles` itself reports none. A sequence's bit scores, domains and
    alignments do not depend on the other sequences searched, so this is the search of
    those sequences alone (the prefilter's profile pass serves the features this way)."""
    profiles, hits_by_profile = searched
    position = {row: index for index, row in enumerate(rows)}
    return profiles, [
        [
            (position[row], hit)
            for row, hit in hits
            if row in position and hit.score >= SEQUENCE_BITS_THRESHOLD
        ]
        for hits in hits_by_profile
    ]


def domain_feature_table(
    ids: list[str],
    sequences: list[str],
    pfam_dir: str | Path,
    threads: int = 1,
    searched: tuple | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (features: id + float columns, columns: column, group, description).

    ``searched``: :func:`search_profiles` of these sequences already run (the positions
    table reads the same hits), else it runs here."""
    profiles, hits_by_profile = searched or search_profiles(sequences, pfam_dir, threads)
    lengths = np.array([len(s) for s in sequences], dtype=float)
    n = len(sequences)
    values: dict[str, np.ndarray] = {}
    described: list[tuple[str, str, str]] = []
    for profile in profiles:
        stem = f"pfam_{profile.key}"
        label = f"{profile.key} {profile.name}"
        absent = f"{ABSENT_POSITION:g} if absent"
        spec = [
            ("bits", 0.0, f"best full-sequence bit score (0 below {SEQUENCE_BITS_THRESHOLD:g})"),
            ("gathering", 0.0, "1 if the score reaches Pfam's gathering cutoff"),
            ("domains", 0.0, f"number of domain hits of at least {DOMAIN_BITS_THRESHOLD:g} bits"),
            ("hmm_coverage", 0.0, "fraction of the profile's match states covered by domain hits"),
            ("seq_coverage", 0.0, "fraction of the sequence covered by its domain envelopes"),
            ("start", ABSENT_POSITION, f"best domain's envelope start / length ({absent})"),
            ("end", ABSENT_POSITION, f"best domain's envelope end / length ({absent})"),
        ]
        for suffix, default, description in spec:
            values[f"{stem}_{suffix}"] = np.full(n, default, dtype=np.float64)
            described.append((f"{stem}_{suffix}", "pfam", f"{label}: {description}"))

    for profile, hits in zip(profiles, hits_by_profile, strict=True):
        stem = f"pfam_{profile.key}"
        for row, hit in hits:
            domains = [d for d in hit.domains if d.score >= DOMAIN_BITS_THRESHOLD]
            values[f"{stem}_bits"][row] = hit.score
            if profile.gathering is not None:
                values[f"{stem}_gathering"][row] = float(hit.score >= profile.gathering)
            values[f"{stem}_domains"][row] = len(domains)
            if not domains:
                continue
            hmm_covered = np.zeros(profile.length, dtype=bool)
            seq_covered = np.zeros(int(lengths[row]), dtype=bool)
            for domain in domains:
                hmm_covered[domain.alignment.hmm_from - 1 : domain.alignment.hmm_to] = True
                seq_covered[domain.env_from - 1 : domain.env_to] = True
            best = max(domains, key=lambda d: (d.score, -d.env_from))
            values[f"{stem}_hmm_coverage"][row] = hmm_covered.mean()
            values[f"{stem}_seq_coverage"][row] = seq_covered.mean()
            values[f"{stem}_start"][row] = (best.env_from - 1) / lengths[row]
            values[f"{stem}_end"][row] = best.env_to / lengths[row]

    features = pd.DataFrame({"id": [str(i) for i in ids], **values})
    documentation = pd.DataFrame(described, columns=["column", "group", "description"])
    return features, documentation
