"""A run's teacher accounts on disk: `ledger.json` (this invocation and every earlier one) and
`ledger.jsonl`, an append-only journal with one line per request sent and per answer or failure,
written before the in-memory ledger moves (from the first request on, before the run dir is locked:
the plan's scoring probe is paid too). A SIGKILL can stop the snapshot between two batches but not
the journal, so the next invocation rebuilds every invocation the history lacks from it: every paid
request stays counted, and the run's call and dollar caps see the whole run's spend."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from p2m import run_paths
from p2m.files import read_json, write_json
from p2m.privacy import private_dir
from p2m.teacher.calls import Ledger, Teacher


class RunLedger:
    """The ledger files of one run dir, for one invocation (`attach` once the run dir is locked)."""

    def __init__(self, run_dir: Path, teacher: Teacher):
        self.run_dir = run_dir
        self.path, self.journal_path = run_dir / run_paths.LEDGER, run_dir / run_paths.LEDGER_JOURNAL
        self.teacher = teacher
        self.invocation = uuid.uuid4().hex[:12]
        self._fd: int | None = None
        self._attached = False
        self._spent: tuple[int, float] = (0, 0.0)
        teacher.keep_accounts(self)

    def write_event(self, event: dict) -> None:
        if self._fd is None:
            private_dir(self.run_dir)
            self._fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        line = json.dumps({"invocation": self.invocation, "t": round(time.time(), 3), **event}) + "\n"
        os.write(self._fd, line.encode())  # one write per line, O_APPEND: whole lines even if killed

    def attach(self) -> None:
        """The run dir is locked: fold killed invocations into the history, and set the caps' spend."""
        self._recover()
        self._attached = True
        history = self._data().get("history", [])
        self._spent = (sum(attempts_of(h) for h in history), sum(h.get("cost_usd") or 0.0 for h in history))

    def spent_before(self) -> tuple[int, float]:
        """(requests, dollars) of the run's earlier invocations, once attached."""
        return self._spent

    def save(self, ledger: Ledger) -> None:
        """After every batch: this invocation's calls so far, marked open until it closes."""
        write_json(
            self.path,
            {
                "teacher": self.teacher.backend.describe(),
                "this_invocation": {"invocation": self.invocation, **ledger.__dict__, "open": True},
                "history": self._data().get("history", []),
            },
        )

    def close(self) -> None:
        """Append this invocation to the history, so every call ever made stays accounted."""
        if not self._attached:
            return
        self.save(self.teacher.ledger)
        data = self._data()
        data["history"].append({"finished": time.time(), "invocation": self.invocation, **self.teacher.ledger.__dict__})
        data["this_invocation"]["open"] = False
        write_json(self.path, data)
        self._attached = False
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _recover(self) -> None:
        """Invocations that were killed (their snapshot open, or only journal lines: killed before they
        locked the run dir) join the history, rebuilt from the journal, before this one counts."""
        data = self._data()
        history = data.setdefault("history", [])
        snapshot = data.get("this_invocation", {})
        known = {entry.get("invocation") for entry in history} | {self.invocation}
        events: dict[str, list[dict]] = {}
        for event in read_journal(self.journal_path):
            if event.get("invocation") not in known:
                events.setdefault(event["invocation"], []).append(event)
        for invocation, lines in events.items():
            ledger = Ledger(cache_hits=snapshot.get("cache_hits", 0) if snapshot.get("invocation") == invocation else 0)
            for event in lines:
                ledger.apply(event)
            history.append({"invocation": invocation, **ledger.__dict__, "open": False, "interrupted": True})
        if snapshot.get("open") and snapshot.get("invocation") not in {
            *events,
            self.invocation,
        }:  # a ledger from before the journal
            history.append({**snapshot, "open": False, "interrupted": True})
        if snapshot:
            snapshot["open"] = False
        if events or snapshot:
            write_json(self.path, {"teacher": self.teacher.backend.describe(), **data})

    def _data(self) -> dict:
        return read_json(self.path) if self.path.exists() else {}


def read_journal(path: Path) -> list[dict]:
    """The journal's events; a last line cut by a crash mid-write is left out."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def attempts_of(entry: dict) -> int:
    """Requests one history entry sent (older entries counted answers and failures only)."""
    return entry.get("attempts", entry["calls"] + entry.get("failed_attempts", 0))
