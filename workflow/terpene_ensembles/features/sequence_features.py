"""Features computed from the sequence and from metadata known before characterisation.

Only ``id``, ``sequence`` and ``kingdom`` of the enzymes table are ever read
(:data:`INPUT_COLUMNS`); products, product counts, substrates and the MARTS ``Type``
(the substrate family) are the answer in disguise and never reach a feature.

Every feature of an enzyme depends on that enzyme alone, so the same sequence gets the
same features in training and in prediction, whatever else is in the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from terpene_ensembles.errors import InputDataError

INPUT_COLUMNS = ["id", "sequence", "kingdom"]
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
ABSENT_POSITION = -1.0

# Physico-chemical classes (a common reduced alphabet); they summarise the composition in a
# handful of robust numbers.
REDUCED_ALPHABET = {
    "aliphatic": "AVLIM",
    "aromatic": "FWY",
    "positive": "KRH",
    "negative": "DE",
    "polar": "STNQ",
    "special": "CGP",
}


@dataclass(frozen=True)
class Motif:
    name: str
    pattern: str
    description: str


# Conserved terpene synthase motifs (consensus patterns, x = any residue).
MOTIFS = [
    Motif(
        "ddxxd",
        "DD..D",
        "class I aspartate-rich DDxxD motif (Mg2+ binding; also FARM/SARM of prenyltransferases)",
    ),
    Motif(
        "nse_dte",
        "[ND]D[LIV].[ST]...E",
        "class I NSE/DTE triad (N/D)D(L/I/V)x(S/T)xxxE (second Mg2+ binding site)",
    ),
    Motif("dxdd", "D.DD", "class II DxDD motif (protonating aspartate of class II cyclases)"),
    Motif("rrx8w", "RR.{8}W", "RRx8W motif near the N-terminus of plant terpene synthases"),
    Motif(
        "qw",
        "[KR][GA].{2,3}[FYW][LIV].{3}Q.{2,5}G.W",
        "QW motif (K/R)(G/A)x2-3(F/Y/W)(L/I/V)x3Qx2-5GxW of triterpene cyclases",
    ),
]

# Kingdom groups by MARTS-DB's vocabulary ("Animalia (Coral)" -> animalia, ...). The list is
# fixed, not learnt from the data, so the columns never change with the input.
KINGDOM_GROUPS = ["plantae", "fungi", "bacteria", "animalia", "archaea", "protists", "other"]
_KINGDOM_ALIASES = {
    "plantae": "plantae",
    "plants": "plantae",
    "viridiplantae": "plantae",
    "fungi": "fungi",
    "bacteria": "bacteria",
    "animalia": "animalia",
    "metazoa": "animalia",
    "archaea": "archaea",
    "amoebozoa": "protists",
    "protista": "protists",
    "protozoa": "protists",
    "chromista": "protists",
}


# Feature groups by column-name prefix (feature_columns.tsv lists the same groups).
FEATURE_GROUPS = ("length", "composition", "motif", "kingdom", "pfam")
_GROUP_OF_PREFIX = (
    ("length", "length"),
    ("log_length", "length"),
    ("aa_", "composition"),
    ("class_", "composition"),
    ("motif_", "motif"),
    ("kingdom_", "kingdom"),
    ("pfam_", "pfam"),
)


def feature_group(column: str) -> str:
    """The group of a feature column (one of :data:`FEATURE_GROUPS`)."""
    for prefix, group in _GROUP_OF_PREFIX:
        if column == prefix or (prefix.endswith("_") and column.startswith(prefix)):
            return group
    raise ValueError(f"feature column {column!r} belongs to no known group")


def kingdom_group(kingdom: object) -> str:
    """Map a MARTS kingdom string to one of :data:`KINGDOM_GROUPS`.

    The part before any parenthesis decides: "Plantae (Red algae)" stays with plantae, as
    MARTS-DB files it; unknown or missing values go to "other".
    """
    if not isinstance(kingdom, str):
        return "other"
    head = kingdom.split("(")[0].strip().lower()
    return _KINGDOM_ALIASES.get(head, "other")


def _motif_matches(pattern: re.Pattern, sequence: str) -> list[int]:
    # Overlapping matches: a lookahead finds e.g. both DDxxD of "DDDxxD".
    return [match.start() for match in pattern.finditer(sequence)]


def sequence_feature_table(enzymes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (features: id + float columns, columns: column, group, description)."""
    missing = [c for c in INPUT_COLUMNS if c not in enzymes.columns]
    if missing:
        raise InputDataError(f"enzymes table lacks columns {missing}")
    frame = enzymes[INPUT_COLUMNS]
    sequences = frame["sequence"].astype(str).tolist()
    bad = [i for i, s in zip(frame["id"], sequences, strict=True) if not re.fullmatch("[A-Z]+", s)]
    if bad:
        raise InputDataError(
            f"empty sequences or ones with other than capital letters: ids {bad[:5]}"
        )

    columns: dict[str, np.ndarray] = {}
    described: list[tuple[str, str, str]] = []

    def add(name: str, group: str, values, description: str) -> None:
        columns[name] = np.asarray(values, dtype=np.float64)
        described.append((name, group, description))

    lengths = np.array([len(s) for s in sequences], dtype=float)
    add("length", "length", lengths, "sequence length (residues)")
    add("log_length", "length", np.log(lengths), "natural log of the sequence length")

    counts = {aa: np.array([s.count(aa) for s in sequences], dtype=float) for aa in AMINO_ACIDS}
    for aa in AMINO_ACIDS:
        add(f"aa_{aa}", "composition", counts[aa] / lengths, f"fraction of residues that are {aa}")
    standard = sum(counts.values())
    add(
        "aa_nonstandard",
        "composition",
        (lengths - standard) / lengths,
        "fraction of residues outside the 20 standard amino acids (X, B, Z, U, O, ...)",
    )
    for group, letters in REDUCED_ALPHABET.items():
        add(
            f"class_{group}",
            "composition",
            sum(counts[aa] for aa in letters) / lengths,
            f"fraction of {group} residues ({', '.join(letters)})",
        )

    first_positions: dict[str, np.ndarray] = {}
    for motif in MOTIFS:
        pattern = re.compile(f"(?=({motif.pattern}))")
        hits = [_motif_matches(pattern, s) for s in sequences]
        present = np.array([bool(h) for h in hits], dtype=float)
        first = np.array(
            [h[0] / n if h else ABSENT_POSITION for h, n in zip(hits, lengths, strict=True)]
        )
        last = np.array(
            [h[-1] / n if h else ABSENT_POSITION for h, n in zip(hits, lengths, strict=True)]
        )
        first_positions[motif.name] = np.array([h[0] if h else -1 for h in hits], dtype=float)
        add(f"motif_{motif.name}_present", "motif", present, f"{motif.description}: present (0/1)")
        add(
            f"motif_{motif.name}_count",
            "motif",
            [len(h) for h in hits],
            f"{motif.description}: number of (overlapping) matches",
        )
        add(
            f"motif_{motif.name}_first",
            "motif",
            first,
            f"{motif.description}: first match start / length ({ABSENT_POSITION:g} if absent)",
        )
        add(
            f"motif_{motif.name}_last",
            "motif",
            last,
            f"{motif.description}: last match start / length ({ABSENT_POSITION:g} if absent)",
        )
    # In class I terpene synthases the NSE/DTE triad sits ~140 residues C-terminal of DDxxD
    # (both line the active site); a spacing that fits hints at a real class I fold.
    ddxxd, triad = first_positions["ddxxd"], first_positions["nse_dte"]
    both = (ddxxd >= 0) & (triad >= 0)
    add(
        "motif_ddxxd_to_nse_dte",
        "motif",
        np.where(both, (triad - ddxxd) / 100.0, 0.0),
        "first NSE/DTE start minus first DDxxD start, in 100 residues (0 if either is absent)",
    )

    groups = frame["kingdom"].map(kingdom_group)
    for group in KINGDOM_GROUPS:
        add(
            f"kingdom_{group}",
            "kingdom",
            (groups == group).to_numpy(dtype=float),
            f"kingdom one-hot: {group} (MARTS kingdom, text before any parenthesis)",
        )

    features = pd.DataFrame({"id": frame["id"].astype(str).to_numpy(), **columns})
    documentation = pd.DataFrame(described, columns=["column", "group", "description"])
    return features, documentation


def input_columns(enzymes: pd.DataFrame) -> pd.DataFrame:
    """The :data:`INPUT_COLUMNS` of an enzymes table (a clear error when one is missing)."""
    missing = [c for c in INPUT_COLUMNS if c not in enzymes.columns]
    if missing:
        raise InputDataError(f"enzymes table lacks columns {missing}")
    return enzymes[INPUT_COLUMNS]


def feature_table(
    enzymes: pd.DataFrame, pfam_dir: str | Path, threads: int = 1, searched: tuple | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All features: sequence/motif/kingdom columns joined with the Pfam domain columns.

    Only :data:`INPUT_COLUMNS` of ``enzymes`` are read; ``searched``: the profile search of
    their sequences if already run (``domains.search_profiles``).
    """
    from terpene_ensembles.features.domains import domain_feature_table

    enzymes = input_columns(enzymes)
    sequence_part, sequence_doc = sequence_feature_table(enzymes)
    domain_part, domain_doc = domain_feature_table(
        enzymes["id"].tolist(),
        enzymes["sequence"].tolist(),
        pfam_dir,
        threads=threads,
        searched=searched,
    )
    documentation = pd.concat([sequence_doc, domain_doc], ignore_index=True)
    return with_domain_columns(sequence_part, domain_part), documentation


def with_domain_columns(sequence_part: pd.DataFrame, domain_part: pd.DataFrame) -> pd.DataFrame:
    """The sequence/motif/kingdom columns joined with the Pfam domain columns (both with
    ``id``, same rows in the same order)."""
    if not sequence_part["id"].astype(str).equals(domain_part["id"].astype(str)):
        raise ValueError("sequence and domain feature rows differ")
    return pd.concat([sequence_part, domain_part.drop(columns="id")], axis=1)
