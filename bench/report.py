"""Tables for the terminal and Markdown, and docs/benchmarks.md's per-benchmark sections."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

DOCUMENT_HEADER = """# Benchmarks

Measured by `make bench` (`python -m bench`, or `python -m bench NAME` for one benchmark).
Every benchmark rewrites only its own section, between `<!-- bench:NAME:start -->` and
`<!-- bench:NAME:end -->`, so sections may come from different runs: each names its machine
and date. Figures are medians over rounds; across machines compare the ratios to the
baseline measured in the same run, not the absolute numbers.
"""


def start_marker(name: str) -> str:
    return f"<!-- bench:{name}:start -->"


def end_marker(name: str) -> str:
    return f"<!-- bench:{name}:end -->"


def write_section(path: Path, name: str, body: str) -> None:
    """Put ``body`` between ``name``'s markers in ``path``, leaving other sections intact."""
    section = f"{start_marker(name)}\n{body.strip()}\n{end_marker(name)}"
    document = path.read_text() if path.exists() else DOCUMENT_HEADER
    start, end = document.find(start_marker(name)), document.find(end_marker(name))
    if start != -1 and end > start:
        document = document[:start] + section + document[end + len(end_marker(name)) :]
    else:
        document = f"{document.rstrip()}\n\n{section}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table; numeric-looking columns are right-aligned."""
    numeric = [all(_is_numeric(row[index]) for row in rows) for index in range(len(headers))]
    rule = ["---:" if right else "---" for right in numeric]
    lines = [headers, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain, aligned table for the terminal."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    numeric = [all(_is_numeric(row[index]) for row in rows) for index in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * width for width in widths]), *map(line, rows)])


def _is_numeric(cell: str) -> bool:
    stripped = cell.replace(",", "").replace("x", "").replace("%", "").strip()
    if not stripped:
        return True  # an empty cell should not stop a numeric column aligning right
    try:
        float(stripped)
    except ValueError:
        return False
    return True
