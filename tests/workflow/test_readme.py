"""Every command of the README and docs is run by a test or by CI (tests/readme_blocks.py).

A new shell block fails here until it carries a marker naming who runs it, and that runner
really uses it: a pytest node must exist and extract the block by its id; `.ci/run` must run
each of the block's commands.
"""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess

import pytest
from conftest import DEMO_MARTS, DEMO_PFAM, REPO, run_snakemake
from readme_blocks import (
    SHELL_LANGUAGES,
    all_blocks,
    commands_of,
    documents,
    fenced_blocks,
    readme_commands,
)

CI_RUN = REPO / ".ci" / "run"
INDENTED_COMMAND = re.compile(
    r"^ {4,}(make|snakemake|python|\.venv|\.ci|apt-get|bash|cp|mkdir|git|scancel|sbatch)\b"
)


# `make test-all` as CI runs it: the lint tests as `make lint`, then the two tiers (Makefile).
WHOLE_SUITE = (["make", "lint"], ["make", "test"], ["make", "test-slow"])


def ci_commands() -> list[list[str]]:
    """The commands .ci/run runs, as word lists: lists split at &&, || and ;, trap bodies
    included (bash syntax beyond that is not interpreted)."""
    lines = commands_of(CI_RUN.read_text())
    commands = []
    while lines:
        words = shlex.split(lines.pop(0))
        if words[:1] == ["trap"]:
            lines.append(words[1])
            continue
        current = []
        for word in [*words, ";"]:
            if word in ("&&", "||", ";") or word.endswith(";"):
                if word.endswith(";") and word != ";":
                    current.append(word[:-1])
                if current and current[0] not in ("echo", "export", "set", "cd"):
                    commands.append(current)
                current = []
            else:
                current.append(word)
    return commands


def run_by_ci(command: str, ci: list[list[str]]) -> bool:
    """CI runs `command` when one of its commands starts with the same two words and has
    every word of it (CI adds flags such as -y or CONFIG=...). CI runs the whole suite,
    `make test-all`, as its parts (WHOLE_SUITE); a pytest selection is run when CI runs
    the whole suite and the selected test files exist."""
    words = shlex.split(command)
    whole_suite = all(part in ci for part in WHOLE_SUITE)
    if words == ["make", "test-all"]:
        return whole_suite
    if words[1:3] == ["-m", "pytest"]:
        paths = [w for w in words[3:] if not w.startswith("-") and "/" in w]
        return whole_suite and all((REPO / p).exists() for p in paths)
    return any(c[:2] == words[:2] and set(words) <= set(c) for c in ci)


def test_the_documents_are_the_readme_the_docs_and_the_config_readme():
    names = [str(path.relative_to(REPO)) for path in documents()]
    assert names[0] == "README.md" and names[-1] == "config/README.md"
    assert {"docs/method.md", "docs/results.md", "docs/cluster.md"} <= set(names)
    assert all(path.is_file() for path in documents())


def test_every_fenced_block_names_its_language():
    unnamed = [block.where for block in all_blocks() if not block.language]
    assert not unnamed, f"{unnamed}: fenced block without a language"


def test_no_command_hides_in_an_indented_code_block():
    found = []
    for path in documents():
        fenced = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced and INDENTED_COMMAND.match(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, "put commands in a marked ```bash block:\n" + "\n".join(found)


def test_every_shell_block_is_run_by_a_test_or_by_ci():
    ci = ci_commands()
    shell = [block for block in all_blocks() if block.language in SHELL_LANGUAGES]
    assert len(shell) >= 5, shell
    problems, ids = [], set()
    for block in shell:
        where = block.where
        if block.marker is None:
            problems.append(f"{where}: no `<!-- readme-block: ID; run by: ... -->` above it")
            continue
        if block.id in ids:
            problems.append(f"{where}: block id {block.id!r} used twice")
        ids.add(block.id)
        if not block.commands():
            problems.append(f"{where}: block {block.id!r} has no command")
        if block.run_by == ".ci/run":
            problems += [
                f"{where}: .ci/run does not run {command!r}"
                for command in block.commands()
                if not run_by_ci(command, ci)
            ]
            continue
        path, _, test_name = block.run_by.partition("::")
        test_file = REPO / path
        if not (path.startswith("tests/") and test_file.is_file() and test_name):
            problems.append(f"{where}: runner {block.run_by!r} is not .ci/run or a test node")
            continue
        functions = {
            node.name: ast.get_source_segment(test_file.read_text(), node)
            for node in ast.parse(test_file.read_text()).body
            if isinstance(node, ast.FunctionDef)
        }
        if test_name not in functions:
            problems.append(f"{where}: {path} has no test {test_name}")
        elif f'readme_commands("{block.id}")' not in functions[test_name]:
            problems.append(f'{where}: {block.run_by} does not call readme_commands("{block.id}")')
    assert not problems, "\n".join(problems)


def test_marker_checks_catch_an_unmarked_block_and_a_wrong_runner():
    text = (
        "```bash\nmake run\n```\n\n"
        "<!-- readme-block: x; run by: tests/none.py::test_nothing -->\n"
        "```bash\nmake test  # comment\nsnakemake \\\n  --cores 2\n```\n"
    )
    unmarked, marked = fenced_blocks(text)
    assert unmarked.marker is None
    assert (marked.id, marked.run_by) == ("x", "tests/none.py::test_nothing")
    assert marked.commands() == ["make test", "snakemake --cores 2"]
    ci = [*WHOLE_SUITE, ["apt-get", "install", "-y", "mmseqs2"]]
    assert [".ci/slurm/stop.sh"] in ci_commands()  # from the trap of .ci/run
    assert run_by_ci("apt-get install mmseqs2", ci)
    assert not run_by_ci("apt-get install chromium", ci)
    assert not run_by_ci("make run", ci)
    assert run_by_ci(".venv/bin/python -m pytest -m slurm tests/workflow/test_slurm.py", ci)
    assert run_by_ci("make test-all", ci)
    assert not run_by_ci("make test-all", ci[1:])
    assert not run_by_ci(".venv/bin/python -m pytest tests/unit/test_predict.py", ci[:2])
    assert not run_by_ci(".venv/bin/python -m pytest tests/workflow/test_gone.py", ci)


def test_real_data_block_builds_the_whole_dag(workflow_copy, tmp_path):
    """The real configuration's setup commands, then its snakemake command as a dry run."""
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    shutil.copy(DEMO_MARTS, home / "Downloads" / "marts_db_reactions.csv")
    *setup, run = readme_commands("real-data")
    assert run == "snakemake --cores 16 --use-conda"
    for command in setup:
        command = command.replace("/path/to/pfam", str(DEMO_PFAM))
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=workflow_copy,
            env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, (command, result.stderr)
    assert (workflow_copy / "resources" / "marts_db.csv").read_bytes() == DEMO_MARTS.read_bytes()
    assert len(list((workflow_copy / "resources" / "pfam").glob("*.hmm"))) == 7
    # No conda here (the envs are checked statically by test_conda_envs.py), so no --use-conda.
    words = [w for w in shlex.split(run)[1:] if w != "--use-conda"]
    result = run_snakemake(workflow_copy, *words, "--dry-run", "--quiet", "rules")
    assert result.returncode == 0, result.stdout + result.stderr
    for stage in ("parse", "embed_shard", "features", "split", "train", "calibrate", "report"):
        assert re.search(rf"^{stage}\s+\d+", result.stdout, re.M), (stage, result.stdout)


@pytest.mark.parametrize("block_id", ["two-commands", "minimal-run", "development"])
def test_ci_blocks_use_make_targets_that_exist(block_id):
    targets = set(re.findall(r"^([\w-]+):", REPO.joinpath("Makefile").read_text(), re.M))
    for command in readme_commands(block_id):
        words = shlex.split(command)
        if words[0] == "make":
            assert words[1] in targets, (command, sorted(targets))
