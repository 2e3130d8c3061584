"""Regex search over a bundle on a linear-time engine.

Queries come from runbooks and from models, so a catastrophic pattern must not hang a run. The
default engine is ripgrep (the `rg` binary shipped by the `ripgrep` wheel; its default regex engine
is linear, PCRE2 is never enabled), driven with an argument list — never a shell — and its JSON
output. google-re2 is the fallback, used when `rg` is missing or `SOPGRAPH_SEARCH_ENGINE=re2`.

Both engines search rotated `.gz` logs transparently, skip binary files, report the full number of
matching lines per file even past the caps, and bound every returned line.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import re2
from pydantic import BaseModel, Field

from tools.bundle.textio import bundle_files, is_binary, iter_lines

MAX_TEXT_CHARS = 500
MAX_QUERY_CHARS = 1000
MAX_CONTEXT = 10
ENGINE_ENV = "SOPGRAPH_SEARCH_ENGINE"
# RE2's default program budget is small; bundle queries (long alternations) need more, but bounded.
_RE2_MAX_MEM = 64 << 20
_ARG_BATCH = 400  # file paths per rg invocation, well under ARG_MAX

Engine = Literal["rg", "re2"]


class SearchError(Exception):
    """The query cannot be run (invalid regex, unsupported feature, engine missing). Message is user-facing."""


class ContextLine(BaseModel):
    line: int
    text: str


class SearchHit(BaseModel):
    file: str
    line: int
    text: str
    before: list[ContextLine] = Field(default_factory=list)
    after: list[ContextLine] = Field(default_factory=list)


class SearchResult(BaseModel):
    """What one query found. `matches_per_file` counts matching lines, including those past the caps."""

    query: str
    engine: Engine
    total_matches: int
    files_searched: int
    files_with_matches: int
    matches_per_file: dict[str, int]
    hits: list[SearchHit]
    truncated: bool
    timed_out: bool = False
    binary_files_skipped: list[str] = Field(default_factory=list)


class HitGroup(BaseModel):
    """One file's hits, the unit the tools layer numbers as S-NNN."""

    file: str
    lines: list[int]
    count: int
    sample: str


def _bound(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= limit else text[:limit] + "…"


def rg_binary() -> str | None:
    """The `rg` that ships with our environment first (the ripgrep wheel installs it next to python)."""
    candidates = [str(Path(sys.prefix) / "bin"), str(Path(sys.executable).parent)]
    path = os.pathsep.join([*candidates, os.environ.get("PATH", "")])
    return shutil.which("rg", path=path)


def choose_engine() -> Engine:
    wanted = os.environ.get(ENGINE_ENV, "").strip().lower()
    if wanted not in ("", "rg", "re2"):
        raise SearchError(f"{ENGINE_ENV}={wanted!r} is not an engine; use 'rg' or 're2'")
    if wanted == "re2":
        return "re2"
    if rg_binary() is None:
        if wanted == "rg":
            raise SearchError(
                f"{ENGINE_ENV}=rg but no `rg` binary was found; install the `ripgrep` package or unset {ENGINE_ENV}"
            )
        return "re2"
    return "rg"


def search(
    root: Path,
    query: str,
    *,
    globs: list[str] | None = None,
    context: int = 0,
    max_matches: int = 200,
    max_per_file: int = 50,
    ignore_case: bool = False,
    timeout_s: float = 30,
) -> SearchResult:
    """Search every text file under `root` for `query` (a regex) and return bounded, counted hits.

    Hits come in path order then line order; `max_per_file` bounds hits kept per file and
    `max_matches` bounds the total, while counts stay complete. A query that takes longer than
    `timeout_s` returns what was found so far with `timed_out` set.
    """
    if not query:
        raise SearchError("query is empty; give a regular expression")
    if len(query) > MAX_QUERY_CHARS:
        raise SearchError(f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
    if "\n" in query or "\r" in query:
        raise SearchError("query contains a line break; searches match within one line")
    root = Path(root)
    if not root.is_dir():
        raise SearchError(f"bundle directory {root} does not exist")
    context = max(0, min(int(context), MAX_CONTEXT))
    max_matches = max(0, int(max_matches))
    max_per_file = max(1, int(max_per_file))
    globs = [g for g in (globs or []) if g.strip()]
    engine = choose_engine()
    if engine == "rg":
        return _search_rg(root, query, globs, context, max_matches, max_per_file, ignore_case, timeout_s)
    return _search_re2(root, query, globs, context, max_matches, max_per_file, ignore_case, timeout_s)


def group_hits(result: SearchResult) -> list[HitGroup]:
    """Group hits by file, most matches first (ties by path), for S-NNN numbering."""
    by_file: dict[str, list[SearchHit]] = {}
    for hit in result.hits:
        by_file.setdefault(hit.file, []).append(hit)
    groups = [
        HitGroup(
            file=file,
            lines=[h.line for h in hits],
            count=max(result.matches_per_file.get(file, 0), len(hits)),
            sample=hits[0].text,
        )
        for file, hits in by_file.items()
    ]
    groups.sort(key=lambda g: (-g.count, g.file))
    return groups


# ------------------------------------------------------------------------------------------
# ripgrep
# ------------------------------------------------------------------------------------------


def _rg_base(rg: str, ignore_case: bool) -> list[str]:
    args = [
        rg,
        "--no-config",
        "--no-ignore",
        "--hidden",
        "--search-zip",
        "--no-messages",
        # No --sort: it makes rg single-threaded. Files are put in path order afterwards, which keeps
        # results (and the total cap) deterministic.
        "--encoding",
        "none",
        "--regex-size-limit",
        "64M",
        "--dfa-size-limit",
        "64M",
    ]
    if ignore_case:
        args.append("--ignore-case")
    return args


def _rg_globs(globs: list[str]) -> list[str]:
    out: list[str] = []
    for g in globs:
        out += ["--glob", g]
    return out


def _rg_text(obj: dict[str, Any] | None) -> str:
    if not obj:
        return ""
    if "text" in obj:
        return str(obj["text"])
    return base64.b64decode(obj.get("bytes", "")).decode("utf-8", errors="replace")


def _rel(path_text: str) -> str:
    return path_text[2:] if path_text.startswith("./") else path_text


class _Deadline:
    """Kills a child process when the time budget runs out, so a slow search cannot wedge a run."""

    def __init__(self, proc: subprocess.Popen[bytes], timeout_s: float):
        self.fired = False
        self._proc = proc
        self._timer = threading.Timer(max(0.0, timeout_s), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(OSError):
            self._proc.kill()

    def cancel(self) -> None:
        self._timer.cancel()


def _rg_error(stderr: str, query: str) -> SearchError:
    text = stderr.strip()
    # rg prints "rg: regex parse error:\n    <pattern>\n    ^^^\nerror: <what>"; keep it readable.
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    what = next((ln.removeprefix("error: ") for ln in lines if ln.startswith("error:")), None)
    if "regex parse error" in text or what:
        detail = what or (lines[-1] if lines else "invalid pattern")
        return SearchError(f"invalid regular expression {query!r}: {detail}")
    return SearchError(f"search failed: {text[:500] or 'rg exited with an error'}")


def _search_rg(
    root: Path,
    query: str,
    globs: list[str],
    context: int,
    max_matches: int,
    max_per_file: int,
    ignore_case: bool,
    timeout_s: float,
) -> SearchResult:
    rg = rg_binary()
    if rg is None:  # pragma: no cover - choose_engine checked
        raise SearchError("no `rg` binary found")
    started = time.monotonic()
    cmd = [*_rg_base(rg, ignore_case), "--json", "--max-count", str(max_per_file)]
    if context:
        cmd += ["--context", str(context)]
    cmd += [*_rg_globs(globs), "-e", query, "--", "."]

    hits: list[SearchHit] = []
    per_file: dict[str, list[SearchHit]] = {}
    counts: dict[str, int] = {}
    binary: list[str] = []
    files_searched = 0
    saw_summary = False
    truncated = False
    capped_files: list[str] = []
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = _Deadline(proc, timeout_s)
    stderr_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read() if proc.stderr else b""))
    reader.daemon = True
    reader.start()
    try:
        file_hits: list[tuple[int, str]] = []
        file_context: dict[int, str] = {}
        assert proc.stdout is not None
        for msg in _json_records(proc.stdout):
            kind = msg.get("type")
            data = msg.get("data", {})
            if kind == "begin":
                file_hits, file_context = [], {}
            elif kind in ("match", "context"):
                number = int(data.get("line_number") or 0)
                text = _bound(_rg_text(data.get("lines")))
                file_context[number] = text
                # With context, rg reports matches inside the trailing context of the last
                # allowed match as matches too; the per-file cap is enforced here.
                if kind == "match" and len(file_hits) < max_per_file:
                    file_hits.append((number, text))
            elif kind == "end":
                rel = _rel(_rg_text(data.get("path")))
                stats = data.get("stats", {})
                matched = int(stats.get("matched_lines", 0))
                if data.get("binary_offset") is not None:
                    binary.append(rel)
                if matched:
                    counts[rel] = matched
                    if matched >= max_per_file:
                        capped_files.append(rel)
                if file_hits:
                    per_file[rel] = [_with_context(rel, number, text, file_context, context)
                                     for number, text in file_hits]
            elif kind == "summary":
                saw_summary = True
                files_searched = int(data.get("stats", {}).get("searches", 0))
        proc.wait()
    finally:
        deadline.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    timed_out = deadline.fired
    for rel in sorted(per_file):
        room = max_matches - len(hits)
        if room <= 0:
            truncated = True
            break
        if len(per_file[rel]) > room:
            truncated = True
        hits.extend(per_file[rel][:room])
    if proc.returncode == 2 and not timed_out and not saw_summary:
        # A pattern rg rejects fails before any file is searched, so no summary is printed.
        raise _rg_error(b"".join(stderr_chunks).decode("utf-8", errors="replace"), query)

    # --max-count stopped at the cap; count the rest for exactly those files (no output lines).
    if capped_files and not timed_out:
        remaining = timeout_s - (time.monotonic() - started)
        full, count_timed_out = _rg_counts(rg, root, query, capped_files, ignore_case, remaining)
        timed_out = timed_out or count_timed_out
        counts.update(full)
    for rel in capped_files:
        if counts.get(rel, 0) > max_per_file:
            truncated = True
    if sum(counts.values()) > len(hits):
        truncated = True
    return SearchResult(
        query=query,
        engine="rg",
        total_matches=sum(counts.values()),
        files_searched=files_searched,
        files_with_matches=len(counts),
        matches_per_file=dict(sorted(counts.items())),
        hits=hits,
        truncated=truncated or timed_out,
        timed_out=timed_out,
        binary_files_skipped=sorted(binary),
    )


# A JSON record longer than this (a huge log line, which `--max-columns` does not shorten in
# --json mode) is not decoded whole: its head gives type, path and the start of the text, and
# its line number is picked out while the rest streams past.
_RECORD_LIMIT = 1 << 20
_CHUNK = 1 << 20
_HEAD = re.compile(rb'^\{"type":"(?P<type>\w+)","data":\{"path":\{"text":"(?P<path>(?:[^"\\]|\\.)*)"\}'
                   rb',"lines":\{"text":"(?P<text>(?:[^"\\]|\\.){0,2000})')
_LINE_NUMBER = re.compile(rb'"\},"line_number":(\d+)')


def _json_records(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    """rg's --json output as dicts, with memory bounded by `_RECORD_LIMIT` whatever a line's length."""
    while True:
        raw = stream.readline(_RECORD_LIMIT)
        if not raw:
            return
        if raw.endswith(b"\n") or len(raw) < _RECORD_LIMIT:
            yield json.loads(raw)
            continue
        head = _HEAD.match(raw)
        number = _LINE_NUMBER.search(raw)
        tail = raw[-64:]
        while not tail.endswith(b"\n"):
            chunk = stream.readline(_CHUNK)
            if not chunk:
                break
            if number is None:
                number = _LINE_NUMBER.search(tail + chunk)
            tail = chunk[-64:]
        if head is None or number is None:
            continue  # not a record we use (or not rg's shape): skip it rather than guess
        text = head.group("text").decode("utf-8", errors="replace")
        with contextlib.suppress(ValueError):
            text = json.loads('"' + text.rstrip("\\") + '"')
        yield {"type": head.group("type").decode(), "data": {
            "path": {"text": json.loads(b'"' + head.group("path") + b'"')},
            "lines": {"text": text + " …[line truncated]"},
            "line_number": int(number.group(1)),
        }}


def _with_context(rel: str, number: int, text: str, around: dict[int, str], context: int) -> SearchHit:
    before = [ContextLine(line=n, text=around[n]) for n in range(number - context, number) if n in around]
    after = [ContextLine(line=n, text=around[n]) for n in range(number + 1, number + context + 1) if n in around]
    return SearchHit(file=rel, line=number, text=text, before=before, after=after)


def _rg_counts(
    rg: str, root: Path, query: str, files: list[str], ignore_case: bool, timeout_s: float
) -> tuple[dict[str, int], bool]:
    counts: dict[str, int] = {}
    for i in range(0, len(files), _ARG_BATCH):
        batch = files[i : i + _ARG_BATCH]
        cmd = [*_rg_base(rg, ignore_case), "--count", "--with-filename", "--null", "-e", query, "--", *batch]
        try:
            out = subprocess.run(
                cmd, cwd=root, capture_output=True, stdin=subprocess.DEVNULL, timeout=max(0.1, timeout_s), check=False
            )
        except subprocess.TimeoutExpired:
            return counts, True
        for line in out.stdout.splitlines():
            path, _, number = line.partition(b"\0")
            with contextlib.suppress(ValueError):
                counts[_rel(path.decode("utf-8", errors="replace"))] = int(number)
    return counts, False


# ------------------------------------------------------------------------------------------
# google-re2 fallback
# ------------------------------------------------------------------------------------------


def compile_re2(query: str, *, ignore_case: bool = False) -> re2._Regexp:
    """Compile a user/model regex on RE2, with errors phrased for the user."""
    options = re2.Options()
    options.max_mem = _RE2_MAX_MEM
    options.case_sensitive = not ignore_case
    options.log_errors = False
    try:
        return re2.compile(query, options)
    except re2.error as exc:
        detail = str(exc) or "RE2 rejected the pattern"
        if "(?<" in query or "(?=" in query or "(?!" in query:
            detail += " (look-around is not supported by linear-time engines)"
        if "\\1" in query or "\\2" in query:
            detail += " (backreferences are not supported by linear-time engines)"
        raise SearchError(f"invalid regular expression {query!r}: {detail}") from None


_GLOB_CACHE: dict[str, re2._Regexp] = {}


def glob_to_regex(glob: str) -> str:
    """Translate an rg/gitignore-style glob: `*` stays within a path segment, `**` crosses them,
    `{a,b}` alternates, and a glob without `/` matches the file name at any depth."""
    out: list[str] = []
    i, n = 0, len(glob)
    depth = 0
    while i < n:
        c = glob[i]
        if c == "*":
            if glob.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
                continue
            if glob.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = glob.find("]", i + 2)
            if j < 0:
                out.append(re2.escape("["))
            else:
                body = glob[i + 1 : j]
                neg = body.startswith("!")
                body = body[1:] if neg else body
                out.append("[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]")
                i = j
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re2.escape(c))
        i += 1
    out.append(")" * depth)
    body = "".join(out)
    if "/" not in glob.strip("/"):
        return f"^(?:.*/)?{body}$"
    return f"^{body.lstrip('/')}$" if not glob.startswith("/") else f"^{body[1:]}$"


def glob_matches(glob: str, rel: str) -> bool:
    rx = _GLOB_CACHE.get(glob)
    if rx is None:
        rx = _GLOB_CACHE[glob] = re2.compile(glob_to_regex(glob))
    return rx.search(rel) is not None


def selected(rel: str, globs: list[str]) -> bool:
    """rg's --glob semantics: include globs select, `!` globs exclude, the last matching glob wins."""
    if not globs:
        return True
    includes = [g for g in globs if not g.startswith("!")]
    verdict: bool | None = None
    for g in globs:
        negated = g.startswith("!")
        if glob_matches(g[1:] if negated else g, rel):
            verdict = not negated
    if verdict is None:
        return not includes
    return verdict


def _search_re2(
    root: Path,
    query: str,
    globs: list[str],
    context: int,
    max_matches: int,
    max_per_file: int,
    ignore_case: bool,
    timeout_s: float,
) -> SearchResult:
    rx = compile_re2(query, ignore_case=ignore_case)
    deadline = time.monotonic() + timeout_s
    hits: list[SearchHit] = []
    counts: dict[str, int] = {}
    binary: list[str] = []
    searched = 0
    timed_out = False
    # Same order as rg --sort path: component by component.
    for bf in sorted(bundle_files(root), key=lambda f: f.rel.split("/")):
        if not selected(bf.rel, globs):
            continue
        if is_binary(bf.path):
            binary.append(bf.rel)
            continue
        searched += 1
        matched, file_hits, stopped = _scan_file_re2(bf.path, bf.rel, rx, context, max_per_file, deadline)
        if matched:
            counts[bf.rel] = matched
        for hit in file_hits:
            if len(hits) >= max_matches:
                break
            hits.append(hit)
        if stopped:
            timed_out = True
            break
    total = sum(counts.values())
    return SearchResult(
        query=query,
        engine="re2",
        total_matches=total,
        files_searched=searched,
        files_with_matches=len(counts),
        matches_per_file=dict(sorted(counts.items())),
        hits=hits,
        truncated=timed_out or total > len(hits),
        timed_out=timed_out,
        binary_files_skipped=sorted(binary),
    )


def _scan_file_re2(
    path: Path, rel: str, rx: re2._Regexp, context: int, max_per_file: int, deadline: float
) -> tuple[int, list[SearchHit], bool]:
    matched = 0
    hits: list[SearchHit] = []
    before: deque[ContextLine] = deque(maxlen=context)
    waiting: list[tuple[SearchHit, int]] = []  # hits still collecting after-context
    for number, line in _numbered(iter_lines(path)):
        if number % 4096 == 0 and time.monotonic() > deadline:
            return matched, hits, True
        is_match = rx.search(line) is not None
        text = _bound(line) if (is_match or waiting or context) else ""
        if waiting:
            for hit, _ in waiting:
                hit.after.append(ContextLine(line=number, text=text))
            waiting = [(h, left - 1) for h, left in waiting if left > 1]
        if is_match:
            matched += 1
            if matched <= max_per_file:
                hit = SearchHit(file=rel, line=number, text=text, before=list(before))
                hits.append(hit)
                if context:
                    waiting.append((hit, context))
        if context:
            before.append(ContextLine(line=number, text=text))
    return matched, hits, False


def _numbered(lines: Iterator[str]) -> Iterator[tuple[int, str]]:
    return enumerate(lines, start=1)
