"""docs/experiments.md: every entry is a dated historical record tied to a commit.

An entry is a `## title` followed by a field table (date, commit, question, decision) and at
least one table of numbers. The numbers are history (measured on the entry's commit) and
are not regenerated; this test checks that each entry says where and when they came from.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import REPO

EXPERIMENTS = REPO / "docs" / "experiments.md"
FIELDS = ["date", "commit", "question", "decision"]
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def entries(text: str) -> dict[str, list[list[list[str]]]]:
    """title -> its tables, each a list of rows of cells (header and separator dropped)."""
    found: dict[str, list[list[list[str]]]] = {}
    title, table = None, None
    for line in text.splitlines():
        if line.startswith("## "):
            title, table = line[3:].strip(), None
            assert title not in found, f"two entries titled {title!r}"
            found[title] = []
        elif title and line.startswith("|"):
            if table is None:
                table = []
                found[title].append(table)
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        else:
            table = None
    return {t: [rows[2:] for rows in tables] for t, tables in found.items()}


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout.strip()


ENTRIES = entries(EXPERIMENTS.read_text())


def test_there_are_entries():
    assert len(ENTRIES) >= 10


@pytest.mark.parametrize("title", list(ENTRIES))
def test_entry_has_its_fields_and_numbers(title):
    fields, *numbers = ENTRIES[title]
    assert [row[0] for row in fields] == FIELDS, title
    values = {row[0]: row[1] for row in fields}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", values["date"]), values["date"]
    assert re.fullmatch(r"[0-9a-f]{7,40}", values["commit"]), values["commit"]
    assert values["question"] and values["decision"].startswith(("kept", "not kept"))
    assert numbers, f"{title}: no table of numbers"
    for table in numbers:
        assert table and all(len(row) == len(table[0]) for row in table), title
        assert any(NUMBER.search(cell) for row in table for cell in row[1:]), title


@pytest.mark.parametrize("title", list(ENTRIES))
def test_entry_commit_is_in_the_history_and_of_its_date(title):
    values = {row[0]: row[1] for row in ENTRIES[title][0]}
    commit = values["commit"]
    git("merge-base", "--is-ancestor", commit, "HEAD")
    assert git("log", "-1", "--format=%cs", commit) == values["date"], title


def test_the_parser_reads_fields_and_tables():
    text = (
        "# x\n\n## a\n\n| field | value |\n|---|---|\n| date | 2026-01-01 |\n\n"
        "| v | m |\n|---|---|\n| base | 0.3 |\n"
    )
    assert entries(text) == {"a": [[["date", "2026-01-01"]], [["base", "0.3"]]]}
