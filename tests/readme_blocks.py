"""The fenced shell blocks of the documentation and who runs them.

The documentation is README.md, every docs/*.md and config/README.md (`documents()`). Every
fenced block with a shell language (bash, sh, shell, console) must follow, on the
nearest non-blank line above it, a marker

    <!-- readme-block: ID; run by: WHERE (optional note) -->

where WHERE is `.ci/run` (each command of the block is one that .ci/run runs, see
tests/workflow/test_readme.py for how that is matched) or a pytest node
`tests/<path>.py::<test>` whose test extracts the block with `readme_commands("ID")` and runs
its commands. Block ids are unique across all documents. tests/workflow/test_readme.py fails
on a shell block without a marker, on a marker whose test does not exist or does not use its
block, and on an indented code block.
Other fenced blocks must name their language (`text` for diagrams and listings).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def documents() -> list[Path]:
    """README.md, docs/*.md (sorted) and config/README.md: every file whose blocks count."""
    return [README, *sorted((REPO / "docs").glob("*.md")), REPO / "config" / "README.md"]


SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^```(\S*)\s*$")
MARKER = re.compile(
    r"^<!--\s*readme-block:\s*(?P<id>[\w-]+);\s*run by:\s*(?P<by>\S+)(?P<note>.*?)\s*-->\s*$"
)


@dataclass(frozen=True)
class Block:
    path: str  # the document, relative to the repository root
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    marker: re.Match | None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def id(self) -> str | None:
        return self.marker["id"] if self.marker else None

    @property
    def run_by(self) -> str | None:
        return self.marker["by"] if self.marker else None

    def commands(self) -> list[str]:
        return commands_of(self.text)


def fenced_blocks(text: str | None = None, path: str = "README.md") -> list[Block]:
    """The fenced blocks of ``text`` (default: the file ``path`` of the repository)."""
    lines = ((REPO / path).read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        start = index
        index += 1
        while index < len(lines) and lines[index].rstrip() != "```":
            index += 1
        if index == len(lines):
            raise ValueError(f"{path}:{start + 1}: fenced block never closed")
        above = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        blocks.append(
            Block(
                path=path,
                line=start + 1,
                language=opening.group(1),
                text="\n".join(lines[start + 1 : index]),
                marker=MARKER.match(above.strip()),
            )
        )
        index += 1
    return blocks


def strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (a # that starts a word, outside quotes)."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def commands_of(text: str) -> list[str]:
    """Shell command lines of a block, as written: comments dropped, continuations joined."""
    commands, pending = [], ""
    for raw in text.splitlines():
        line = strip_comment(raw) if not raw.rstrip().endswith("\\") else raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = (pending + line.strip()).strip()
        pending = ""
        if line:
            shlex.split(line)  # raises on unbalanced quotes
            commands.append(line)
    if pending.strip():
        raise ValueError(f"block ends in a line continuation: {text!r}")
    return commands


def all_blocks() -> list[Block]:
    """The fenced blocks of every document (`documents()`), in order."""
    return [
        block
        for document in documents()
        for block in fenced_blocks(path=str(document.relative_to(REPO)))
    ]


def readme_commands(block_id: str) -> list[str]:
    """The commands of the block marked `readme-block: block_id` (README.md or docs)."""
    found = [block for block in all_blocks() if block.id == block_id]
    if len(found) != 1:
        raise KeyError(f"the documentation has {len(found)} blocks marked {block_id!r}")
    return found[0].commands()
