"""Reading back the markdown tables the benchmarks print (their tiny-mode tests assert on them)."""
from __future__ import annotations


def markdown_rows(text: str, header: str) -> list[dict[str, str]]:
    """The rows of the first printed table whose header line starts with `header`, as {column: cell}."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    columns = [cell.strip() for cell in lines[start].strip().strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(columns, (cell.strip() for cell in line.strip().strip("|").split("|")))))
    return rows
