"""Check the archive of `snakemake --report report.zip` against the run's results.

    python .ci/check_report_archive.py report.zip results/report

The archive must be a valid zip with Snakemake's entry page `report/report.html`, and carry
byte-identical copies of every file the workflow marks for the report: metrics.json,
test_predictions.tsv, report.html and each figure in results/report/figures/. The entry page
must name the four report categories of workflow/rules/report.smk. Exit status 1 with one
line per problem otherwise.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path, PurePosixPath

ENTRY = "report/report.html"
FILES = ("metrics.json", "test_predictions.tsv", "report.html")
CATEGORIES = ("Metrics", "Predictions", "Report", "Figures")


def archive_problems(archive: Path, results: Path) -> list[str]:
    if not zipfile.is_zipfile(archive):
        return [f"{archive}: not a zip archive"]
    with zipfile.ZipFile(archive) as bundle:
        broken = bundle.testzip()
        if broken is not None:
            return [f"{archive}: corrupt member {broken}"]
        members = {name: bundle.read(name) for name in bundle.namelist() if not name.endswith("/")}
    problems = []
    if ENTRY not in members:
        problems.append(f"{archive}: no {ENTRY} (entries: {sorted(members)[:5]} ...)")
    else:
        page = members[ENTRY].decode("utf-8", errors="replace")
        problems += [f"{ENTRY} does not name category {c!r}" for c in CATEGORIES if c not in page]
    by_name: dict[str, list[bytes]] = {}
    for name, content in members.items():
        if name != ENTRY:
            by_name.setdefault(PurePosixPath(name).name, []).append(content)
    figures = sorted((results / "figures").glob("*.png"))
    if not figures:
        problems.append(f"{results / 'figures'}: no figures")
    for path in [results / name for name in FILES] + figures:
        if not path.is_file():
            problems.append(f"{path}: missing from the results")
        elif path.read_bytes() not in by_name.get(path.name, []):
            problems.append(f"{path.name}: not in the archive, or not the same bytes as {path}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive", type=Path)
    parser.add_argument("results", type=Path, help="the run's results/report folder")
    args = parser.parse_args(argv)
    problems = archive_problems(args.archive, args.results)
    for problem in problems:
        print(f"report archive: {problem}", file=sys.stderr)
    if not problems:
        print(f"report archive {args.archive}: OK ({args.results} files present, same bytes)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
