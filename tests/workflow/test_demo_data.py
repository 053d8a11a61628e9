"""The repository stands on its own: demo data tracked, unchanged, nothing read from outside."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

import pytest
from conftest import DEMO_DATA, DEMO_MARTS, DEMO_PFAM, REPO

CHECKSUM_LINE = re.compile(r"^([0-9a-f]{64})  (\S+)$")
# A path outside the checkout that the project once read its data from.
OUTSIDE = "../" + "shared"


def documented_checksums() -> dict[str, str]:
    text = (DEMO_DATA / "README.md").read_text()
    block = text.split("## Checksums (sha256)", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    return {
        m.group(2): m.group(1) for line in block.splitlines() if (m := CHECKSUM_LINE.match(line))
    }


def git(*args: str) -> str:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    return subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


def test_demo_files_match_the_documented_sha256():
    documented = documented_checksums()
    present = {
        str(path.relative_to(DEMO_DATA))
        for path in DEMO_DATA.rglob("*")
        if path.is_file() and path.name != "README.md"
    }
    assert present == set(documented), (sorted(present), sorted(documented))
    assert DEMO_MARTS.name in documented and len(list(DEMO_PFAM.glob("*.hmm"))) == 7
    for name, expected in documented.items():
        digest = hashlib.sha256((DEMO_DATA / name).read_bytes()).hexdigest()
        assert digest == expected, f"resources/demo/{name} changed (sha256 {digest})"


def test_demo_files_are_tracked_and_never_converted_by_git():
    tracked = set(git("ls-files", "resources/demo").split())
    expected = {f"resources/demo/{name}" for name in documented_checksums()}
    assert expected | {"resources/demo/README.md"} <= tracked
    attributes = git("check-attr", "text", "--", *sorted(expected))
    for line in attributes.splitlines():
        assert line.endswith(": text: unset"), line


def test_nothing_reads_data_from_outside_the_repository():
    pattern = re.compile(re.escape(OUTSIDE) + r"|parents?\b[^\n]*\"shared\"")
    suffixes = {".py", ".smk", ".yaml", ".yml", ".md", ".toml", ".cfg", ".sh"}
    offenders = []
    for path in sorted(REPO.rglob("*")):
        relative = path.relative_to(REPO)
        if relative.parts[0] in (".git", ".venv", "results", ".snakemake") or not path.is_file():
            continue
        if path.suffix in suffixes or path.name in ("Makefile", "Snakefile", "run"):
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
