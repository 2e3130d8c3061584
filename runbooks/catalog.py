"""Finding runbooks: the shipped library, ids vs paths, and matching alert text to triggers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from pydantic import BaseModel

from runbooks.compile import compile_runbook
from runbooks.errors import RunbookError
from runbooks.model import CompiledRunbook, Runbook
from runbooks.parse import parse_file


def library_dir() -> Path:
    """The runbooks shipped with the package (`runbooks/library/*.md`)."""
    return Path(__file__).resolve().parent / "library"


class CatalogEntry(BaseModel):
    """One runbook file as listed: what it is, or why it could not be read."""

    id: str
    title: str = ""
    severity: str = ""
    phases: int = 0
    path: str
    error: str | None = None


def runbook_files(dirs: Sequence[str | Path] | None = None) -> list[Path]:
    found: list[Path] = []
    for d in dirs or [library_dir()]:
        found.extend(sorted(p for p in Path(d).glob("*.md") if p.is_file()))
    return found


def list_runbooks(dirs: Sequence[str | Path] | None = None) -> list[CatalogEntry]:
    """Every runbook file; broken ones are listed with their error rather than hidden."""
    entries: list[CatalogEntry] = []
    for path in runbook_files(dirs):
        try:
            rb = parse_file(path)
        except RunbookError as exc:
            entries.append(CatalogEntry(id=path.stem, path=str(path), error=str(exc)))
            continue
        entries.append(CatalogEntry(id=rb.id, title=rb.title, severity=rb.severity, phases=len(rb.phases),
                                    path=str(path)))
    return entries


def find(path_or_id: str | Path, dirs: Sequence[str | Path] | None = None) -> Path:
    """An existing file path as is; otherwise a runbook id ("D3") or file stem in the library.

    Ids match case-insensitively. An unknown id raises RunbookError listing the known ones.
    """
    candidate = Path(path_or_id)
    if candidate.is_file():
        return candidate
    wanted = str(path_or_id).strip()
    entries = list_runbooks(dirs)
    for entry in entries:
        if entry.error is None and entry.id.lower() == wanted.lower():
            return Path(entry.path)
    for entry in entries:
        stem = Path(entry.path).stem
        if stem.lower() == wanted.lower() or Path(entry.path).name.lower() == wanted.lower():
            return Path(entry.path)
    known = ", ".join(sorted(e.id for e in entries if e.error is None)) or "none"
    looks_like_path = any(sep in wanted for sep in ("/", "\\")) or wanted.endswith(".md")
    if looks_like_path:
        raise RunbookError(wanted, 0, f"no such file (and no runbook with that id; known ids: {known})")
    raise RunbookError(None, 0, f"unknown runbook '{wanted}'; known ids: {known}")


def load_runbook(path_or_id: str | Path, dirs: Sequence[str | Path] | None = None) -> Runbook:
    return parse_file(find(path_or_id, dirs))


def load(path_or_id: str | Path, dirs: Sequence[str | Path] | None = None) -> CompiledRunbook:
    """The compiled runbook for a path or an id: what the graph and the CLI start from."""
    return compile_runbook(load_runbook(path_or_id, dirs))


class _HasTriggers(Protocol):
    id: str
    triggers: list[str]


class AlertMatch(NamedTuple):
    runbook_id: str
    score: int
    matched_trigger: str


def match_alert(text: str, runbooks: Iterable[_HasTriggers]) -> list[AlertMatch]:
    """Runbooks whose triggers occur in the alert text, best first.

    Triggers are matched as literal, case-insensitive substrings, never as regexes: alert text
    is untrusted and triggers like ".*" must not match everything. The score is how many of the
    runbook's triggers occur; ties go to the longer (more specific) matched trigger.
    """
    haystack = text.casefold()
    matches: list[AlertMatch] = []
    for rb in runbooks:
        hits = [t for t in rb.triggers if t.strip() and t.casefold() in haystack]
        if hits:
            matches.append(AlertMatch(rb.id, len(hits), max(hits, key=len)))
    matches.sort(key=lambda m: (-m.score, -len(m.matched_trigger), m.runbook_id))
    return matches
