"""The usage ledger: one record per settled request, and the sums `router usage` prints.

With the Redis backend the ledger is the stream `router:usage` (flat string fields, see
`to_fields`); with the memory backend it is an append-only JSONL file. Both carry the
same record, with money as integer micro-credits so sums are exact.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

import orjson

from router.billing.state.outcomes import Outcome, SettledBy
from router.config.credits import micro_to_credits
from router.dialects.usage import Usage

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """One settled request. `charged` is micro-credits; times are Unix seconds."""

    request_id: str
    key: str
    model: str
    node: str
    prompt_tokens: int
    completion_tokens: int  # text only: reasoning is counted apart
    reasoning_tokens: int
    charged: int
    status: int  # HTTP status sent to the client; 0 when the reservation expired
    outcome: Outcome
    settled_by: SettledBy
    started: float
    ended: float
    # Each node's share of an answer continued on another node, as JSON text (see
    # `parts_text`); "" for the usual answer of one node, and then left out of the entry.
    parts: str = ""

    def to_fields(self) -> dict[str, str]:
        """Flat string fields for a Redis stream entry."""
        out = {name: _text(getattr(self, name)) for name in _FIELD_NAMES}
        if not self.parts:
            del out["parts"]
        return out

    def stream_entry(self) -> bytes:
        """`to_fields` less `charged` and `settled_by` (SETTLE decides those), as the JSON
        array of field/value strings the script appends (router.billing.state.lua).
        Spelt out rather than looped over: one per settlement (a test holds it to
        `to_fields`)."""
        entry = [
            "request_id",
            self.request_id,
            "key",
            self.key,
            "model",
            self.model,
            "node",
            self.node,
            "prompt_tokens",
            str(self.prompt_tokens),
            "completion_tokens",
            str(self.completion_tokens),
            "reasoning_tokens",
            str(self.reasoning_tokens),
            "status",
            str(self.status),
            "outcome",
            str(self.outcome),
            "started",
            repr(self.started),
            "ended",
            repr(self.ended),
        ]
        if self.parts:
            entry += ("parts", self.parts)
        return orjson.dumps(entry)

    @classmethod
    def from_fields(cls, raw: Mapping[Any, Any]) -> LedgerRecord:
        """From a stream entry (bytes or str) or a JSON object; numbers are re-typed."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = raw.get(f.name, raw.get(f.name.encode(), ""))
            if isinstance(value, bytes):
                value = value.decode()
            elif isinstance(value, list):  # `parts` of a JSONL line
                value = orjson.dumps(value).decode()
            values[f.name] = _FIELD_TYPES.get(f.type, str)(value)
        return cls(**values)

    def json_line(self) -> bytes:
        """`to_json` as one JSONL line. orjson writes the record's slots itself, in field
        order with `parts` last: an empty one is swapped for `credits`, with no dict built."""
        if not self.parts:
            line = orjson.dumps(self)
            if line.endswith(_NO_PARTS):
                credits = orjson.dumps(micro_to_credits(self.charged))
                return b"".join((line[: -len(_NO_PARTS)], b',"credits":', credits, b"}\n"))
        return orjson.dumps(self.to_json()) + b"\n"

    def to_json(self) -> dict[str, Any]:
        """The JSONL line: the record plus `credits` (the charge as a 6-decimal number)."""
        # Per settled request: plain getattr, as dataclasses.asdict deep-copies (slowly).
        out = {name: getattr(self, name) for name in _FIELD_NAMES}
        out["credits"] = micro_to_credits(self.charged)
        if self.parts:
            out["parts"] = orjson.loads(self.parts)
        else:
            del out["parts"]
        return out


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(LedgerRecord))
_NO_PARTS = b',"parts":""}'
# A field's annotation (a string, under `from __future__ import annotations`) -> its parser.
_FIELD_TYPES: dict[object, Callable[[Any], Any]] = {
    "int": lambda v: int(v or 0),
    "float": lambda v: float(v or 0),
    "Outcome": lambda v: Outcome(str(v)),
    "SettledBy": lambda v: SettledBy(str(v)),
}


def parts_text(usage: Usage | None) -> str:
    """The ledger's `parts` for `usage`: a JSON list of {node, prompt_tokens,
    completion_tokens, reasoning_tokens, estimated}, or "" when one node answered."""
    if usage is None or not usage.parts:
        return ""
    return orjson.dumps(
        [
            {
                "node": part.node,
                "prompt_tokens": part.prompt,
                "completion_tokens": part.completion,
                "reasoning_tokens": part.reasoning,
                "estimated": part.estimated,
            }
            for part in usage.parts
        ]
    ).decode()


def _text(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


class JsonlLedger:
    """An append-only JSONL file (memory backend); `path=None` keeps records in memory.

    With an event loop, the lines appended during one loop turn are written together at
    its end (one system call for the turn's settlements, not one each): a crash loses
    at most that turn's lines, as it would lose settlements it interrupted. Without one,
    each line is written at once. Reading writes what is pending first.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.path = Path(path) if path is not None else None
        self._records: list[LedgerRecord] = []
        self._file: IO[bytes] | None = None
        self._loop = loop
        self._pending: list[bytes] = []

    def append(self, record: LedgerRecord) -> None:
        """Write one line, at the end of this loop turn (at once without a loop)."""
        if self.path is None:
            self._records.append(record)
            return
        self._pending.append(record.json_line())
        if self._loop is None or self._loop.is_closed():
            self.flush()
        elif len(self._pending) == 1:
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the lines appended since the last write."""
        lines, self._pending = self._pending, []
        if not lines or self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
            if _ends_torn(self.path):
                self._file.write(b"\n")  # end a line torn by a crash: it stays unreadable
        self._file.write(b"".join(lines))
        self._file.flush()

    def read(self) -> list[LedgerRecord]:
        """Every record; a torn last line (crash mid-write) is skipped."""
        if self.path is None:
            return list(self._records)
        self.flush()
        if not self.path.exists():
            return []
        out: list[LedgerRecord] = []
        with self.path.open("rb") as fh:
            for line in fh:
                try:
                    out.append(LedgerRecord.from_fields(orjson.loads(line)))
                except (orjson.JSONDecodeError, ValueError, TypeError):
                    continue
        return out

    def charged_by_key(self) -> Counter[str]:
        """Micro-credits charged per key name over the whole file (the memory backend's
        balances are rebuilt from it at start); torn or foreign lines are skipped."""
        if self.path is None:
            return Counter()
        self.flush()
        totals: Counter[str] = Counter()
        if not self.path.exists():
            return totals
        with self.path.open("rb") as fh:
            for line in fh:
                try:
                    entry = orjson.loads(line)
                    totals[str(entry["key"])] += int(entry["charged"])
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue
        return totals

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None


def _ends_torn(path: Path) -> bool:
    """Whether the file's last line lacks its newline (a write cut short)."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"


def select(records: Iterable[LedgerRecord], *, since: float, key: str | None) -> list[LedgerRecord]:
    """Records that ended at or after `since`, for `key` if given."""
    return [r for r in records if r.ended >= since and (key is None or r.key == key)]


def parse_since(text: str) -> float:
    """A look-back like `90s`, `30m`, `1h`, `7d`, `2w` (bare numbers are seconds) -> seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"cannot read duration {text!r}; use e.g. 30m, 1h, 7d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def summarize(records: Iterable[LedgerRecord]) -> dict[str, Any]:
    """Totals for `router usage`: requests, tokens by kind, credits, and counts by settlement."""
    requests = charged = prompt = completion = reasoning = 0
    settled_by: Counter[SettledBy] = Counter()
    by_model: dict[str, int] = {}
    for r in records:
        requests += 1
        charged += r.charged
        prompt += r.prompt_tokens
        completion += r.completion_tokens
        reasoning += r.reasoning_tokens
        settled_by[r.settled_by] += 1
        by_model[r.model] = by_model.get(r.model, 0) + r.charged
    return {
        "requests": requests,
        "credits": micro_to_credits(charged),
        "charged_micro": charged,
        "tokens": {"prompt": prompt, "completion": completion, "reasoning": reasoning},
        "settled_by": {by.value: n for by, n in sorted(settled_by.items())},
        "credits_by_model": {m: micro_to_credits(c) for m, c in sorted(by_model.items())},
    }
