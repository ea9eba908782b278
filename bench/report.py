"""The result table: rows of figures per target, checked against targets, as text/JSON/Markdown."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MET = "met"
MISSED = "missed"
REFUSED = "refused"
UNAVAILABLE = "unavailable"
REPORTED = "reported"  # a figure shown with no target to meet
CELL_WIDTH = 36  # long reasons are cut in the table; JSON rows and notes keep them whole
RESULT_WIDTH = 60


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


@dataclass(slots=True)
class Row:
    """One figure: a cell of text per target, the raw numbers, and an optional target check."""

    section: str
    figure: str
    cells: dict[str, str] = field(default_factory=dict)
    values: dict[str, float | None] = field(default_factory=dict)
    target: str = ""
    status: str = ""  # met / missed / refused / unavailable / reported, when `target` is set
    why: str = ""

    @property
    def result(self) -> str:
        if not self.target:
            return ""
        return f"{self.status} ({self.why})" if self.why else self.status


@dataclass(slots=True)
class Report:
    """Everything one run produced."""

    columns: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        print(f"bench: {text}", flush=True)
        self.notes.append(text)

    def table(self) -> list[list[str]]:
        """Header plus one line per row."""
        head = ["section", "figure", *self.columns, "target", "result"]
        body = [
            [
                r.section,
                r.figure,
                *(_short(r.cells.get(c, ""), CELL_WIDTH) for c in self.columns),
                r.target,
                _short(r.result, RESULT_WIDTH),
            ]
            for r in self.rows
        ]
        return [head, *body]

    def text(self) -> str:
        lines = self.table()
        widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
        out = [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
        ]
        out.insert(1, "  ".join("-" * w for w in widths))
        out.extend(f"note: {n}" for n in self.notes)
        return "\n".join(line.rstrip() for line in out)

    def markdown(self) -> str:
        lines = self.table()
        md = [f"# Router benchmark ({self.meta.get('mode', '?')})", ""]
        md.append(f"Run {self.meta.get('started', '')}, {self.meta.get('pinning', '')}.")
        md.append("")
        md.append("| " + " | ".join(lines[0]) + " |")
        md.append("|" + "---|" * len(lines[0]))
        md.extend("| " + " | ".join(c.replace("|", "/") for c in line) + " |" for line in lines[1:])
        if self.notes:
            md += ["", *(f"- {n}" for n in self.notes)]
        return "\n".join(md) + "\n"

    def as_json(self) -> dict[str, Any]:
        checks = [
            {
                "section": r.section,
                "figure": r.figure,
                "target": r.target,
                "status": r.status,
                "why": r.why,
            }
            for r in self.rows
            if r.target
        ]
        return {
            "meta": self.meta,
            "columns": self.columns,
            "rows": [asdict(r) for r in self.rows],
            "targets": checks,
            "notes": self.notes,
            "sections": self.raw,
            "table": self.table(),
        }

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write latest.json and latest.md atomically (via .tmp files)."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = (folder / "latest.json", folder / "latest.md")
        texts = (json.dumps(self.as_json(), indent=2, default=str), self.markdown())
        for path, text in zip(paths, texts, strict=True):
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
        return paths
