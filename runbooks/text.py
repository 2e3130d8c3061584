"""Small text utilities the runbook parser shares: line splitting, code spans, word tokens.

All patterns here are our own fixed ones, so Python `re` is fine; nothing here runs a regex that
came from a runbook.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Only "\n" ends a line (with an optional "\r" before it), exactly as editors and grep count
# lines; str.splitlines would also split on form feeds and U+2028 and shift every line number.
_LINE_END = re.compile(r"\r?\n")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")


def split_lines(text: str) -> list[str]:
    """Lines of `text` without their terminators; index i is file line i + 1."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _LINE_END.split(text)
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@dataclass
class FenceTracker:
    """Follows fenced code blocks line by line, so headings and labels inside them are ignored."""

    marker: str = ""

    @property
    def inside(self) -> bool:
        return bool(self.marker)

    def feed(self, line: str) -> bool:
        """Returns True when `line` is a fence line (opening or closing)."""
        m = _FENCE.match(line)
        if not m:
            return False
        run = m.group(1)
        if not self.marker:
            # An opening backtick fence may not contain backticks in its info string.
            if run[0] == "`" and "`" in m.group(2):
                return False
            self.marker = run
            return True
        if run[0] == self.marker[0] and len(run) >= len(self.marker) and not m.group(2).strip():
            self.marker = ""
            return True
        return False


def code_spans(text: str) -> list[tuple[int, int, int, int]]:
    """Inline code spans as (start, end, content_start, content_end), CommonMark-style runs.

    A span opened by N backticks closes at the next run of exactly N backticks; an unmatched
    run is literal text. Contents are returned untouched so a regex stays byte-exact.
    """
    spans: list[tuple[int, int, int, int]] = []
    i = 0
    n = len(text)
    while i < n:
        if text[i] != "`":
            i += 1
            continue
        j = i
        while j < n and text[j] == "`":
            j += 1
        run = j - i
        k = j
        close = -1
        while k < n:
            if text[k] != "`":
                k += 1
                continue
            m = k
            while m < n and text[m] == "`":
                m += 1
            if m - k == run:
                close = k
                break
            k = m
        if close < 0:
            i = j
            continue
        spans.append((i, close + run, j, close))
        i = close + run
    return spans


def mask(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each span replaced by NULs of the same length: positions stay valid."""
    chars = list(text)
    for start, end in spans:
        for p in range(start, end):
            chars[p] = "\0"
    return "".join(chars)


def words(text: str) -> set[str]:
    """Lower-cased alphanumeric words: "instance-level" gives {"instance", "level"}."""
    return {w for w in _WORD_SPLIT.split(text.lower()) if w}


def word_list(text: str) -> list[str]:
    return [w for w in _WORD_SPLIT.split(text.lower()) if w]


def strip_decoration(text: str) -> str:
    """Drops leading emoji, symbols and emphasis markers so "⚠️ **MUST:**" reads as "MUST:"."""
    out = text.strip()
    while out:
        ch = out[0]
        cat = unicodedata.category(ch)
        if ch in "*_" or cat in ("So", "Sk", "Mn", "Cf") or ch.isspace():
            out = out[1:]
            continue
        break
    return out.replace("**", "").replace("__", "")


def indent_of(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))
