"""No sentence of the README or the docs quotes a number that nothing checks.

Measured numbers live in docs/results.md, generated from a run (test_docs_results.py), and
in docs/experiments.md, a historical log whose entries name the commit each number came from
(test_experiments.py). config/README.md's allowed values and defaults are the schema's
(test_config_readme.py). Everywhere else a number in prose must be one of `CHECKED`: a
phrase of a document, with the check that makes it true. Code (fenced blocks, `inline
code`), HTML comments, link targets and list numbering are not prose.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from conftest import REPO
from readme_blocks import documents
from test_config_readme import ROW

NUMBER = re.compile(r"(?<![\w.\-/@])\d+(?:[.,]\d+)*(?![\w])")
CHECKED_ELSEWHERE = {"docs/results.md", "docs/experiments.md"}


def _python_floor() -> str:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    return requires.removeprefix(">=")


def _genome_input(name: str, scale: float = 1) -> str:
    """A constant of the genome input readers, as the docs write it (``scale``: units)."""
    from terpene_ensembles.data import genome_input, input_format

    value = getattr(genome_input, name, None) or getattr(input_format, name)
    return f"{value / scale:g}"


def _homolog_search(name: str) -> str:
    """A setting of the prefilter's homology arm (homolog_database.HOMOLOG_SEARCH)."""
    from terpene_ensembles.predict.homolog_database import HOMOLOG_SEARCH

    return f"{getattr(HOMOLOG_SEARCH, name):g}"


AUTO_SINGLE_RANGE = r"single for (\d+) kb to \d+ Mb", r"single for \d+ kb to (\d+) Mb"

# README's member-selection table: the runs recorded in the bench result it names.
PRECOMPUTED_RUNS = REPO / "bench/results/member_selection_precomputed_tables.json"
PRECOMPUTED_ROWS = {
    "make_run": r"random-weight ESM2",
    "gauss": r"Gaussian noise",
    "lab5": r"labels plus noise",
}
PRECOMPUTED_CELLS = {  # the row's cells after its label, the checked one in a group
    "selected": r"\| (\d+) of \d+;",
    "folds": r"\| \d+ of (\d+);",
    "map": r"\| \d+ of \d+; \w+ \| ([\d.]+) \|",
    "precision_at_1": r"\| \d+ of \d+; \w+ \| [\d.]+ \| ([\d.]+) \|",
    "macro_f1": r"\| \d+ of \d+; \w+ \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|",
}


def _precomputed_run(run: str, cell: str) -> str:
    import json

    recorded = json.loads(PRECOMPUTED_RUNS.read_text())["runs"][run]
    if cell == "selected":
        return str(recorded["cv_member_selection"]["plm"])
    if cell == "folds":
        return str(recorded["cv_n_folds"])
    return f"{recorded['cv_model_means'][cell]:.3f}"


# (document, phrase, the value the phrase's number must equal)
CHECKED = [
    ("README.md", r"Python (3\.11) or newer", _python_floor),
    ("docs/screening.md", r"any Python (3\.11)", _python_floor),
    ("docs/screening.md", r"the first (\d+) records vote", lambda: _genome_input("SNIFF_RECORDS")),
    (
        "docs/screening.md",
        r"at least (\d+)% of a record's",
        lambda: _genome_input("NUCLEOTIDE_SHARE", 0.01),
    ),
    ("docs/screening.md", r"under (\d+) bp", lambda: _genome_input("MIN_GENE_LENGTH")),
    ("docs/screening.md", r"sensitivity (\d+\.\d+), k-mer", lambda: _homolog_search("sensitivity")),
    ("docs/screening.md", r"k-mer size (\d+), against", lambda: _homolog_search("kmer_size")),
] + [
    (document, phrase, lambda scale=scale, name=name: _genome_input(name, scale))
    for document in ("docs/screening.md", "config/README.md")
    for phrase, name, scale in zip(
        AUTO_SINGLE_RANGE,
        ("AUTO_SINGLE_MIN_LENGTH", "AUTO_SINGLE_MAX_LENGTH"),
        (1e3, 1e6),
        strict=True,
    )
]


CHECKED += [
    (
        "README.md",
        label + r"[^|\n]*" + pattern,
        lambda run=run, cell=cell: _precomputed_run(run, cell),
    )
    for run, label in PRECOMPUTED_ROWS.items()
    for cell, pattern in PRECOMPUTED_CELLS.items()
]


def blank(match: re.Match) -> str:
    return re.sub(r"[^\n]", " ", match.group())


def prose(text: str, path: str = "") -> str:
    """``text`` with everything that is not prose blanked out (line numbers stay)."""
    if path == "config/README.md":  # keep only the meaning of each key row
        text = "\n".join(
            m["meaning"] if (m := ROW.match(line)) else line for line in text.splitlines()
        )
    text = re.sub(r"^```.*?^```", blank, text, flags=re.S | re.M)
    text = re.sub(r"<!--.*?-->", blank, text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", blank, text)
    text = re.sub(r"\]\([^)]*\)", blank, text)
    text = re.sub(r"^\s*\d+\. ", blank, text, flags=re.M)
    return text


def unchecked_numbers(path: str, text: str) -> list[str]:
    plain = prose(text, path)
    covered = set()
    for document, phrase, _ in CHECKED:
        if document == path:
            for match in re.finditer(phrase, plain):
                covered.update(range(match.start(1), match.end(1)))
    return [
        f"{path}:{plain.count(chr(10), 0, m.start()) + 1}: {m.group()!r} in "
        f"{plain.splitlines()[plain.count(chr(10), 0, m.start())].strip()!r}"
        for m in NUMBER.finditer(plain)
        if m.start() not in covered
    ]


def test_no_unchecked_number_in_the_readme_or_the_docs():
    found = []
    for document in documents():
        path = str(document.relative_to(REPO))
        if path not in CHECKED_ELSEWHERE:
            found += unchecked_numbers(path, document.read_text())
    assert not found, (
        "numbers no generator or test checks (move measurements to docs/results.md or "
        "docs/experiments.md, or add a check to CHECKED):\n" + "\n".join(found)
    )


@pytest.mark.parametrize("document, phrase, expected", CHECKED, ids=lambda v: str(v)[:30])
def test_each_checked_phrase_is_there_and_true(document, phrase, expected):
    matches = re.findall(phrase, prose((REPO / document).read_text(), document))
    assert matches, f"{document} no longer says {phrase!r}: drop it from CHECKED"
    assert all(value == expected() for value in matches), (matches, expected())


def test_the_scan_ignores_code_comments_lists_and_identifiers():
    text = (
        "1. step `n = 5` <!-- 7 --> [x](a/8.md) ESM2 C10 precision@1\n"
        "```bash\nmake -j 9\n```\nabout 42 of them\n"
    )
    assert [m.group() for m in NUMBER.finditer(prose(text))] == ["42"]
    assert unchecked_numbers("x.md", text) == ["x.md:5: '42' in 'about 42 of them'"]
