"""Classifying proposed actions with the runbook's safety map.

An action the map does not recognise is treated as RED: the safe failure of a safety map is
asking a person, never acting.
"""

from __future__ import annotations

import re

from runbooks.model import CompiledRunbook, Rating, SafetyRating

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(["a", "an", "the", "to", "of", "and", "or", "via", "with", "for", "on", "in", "by", "from", "not", "is", "are", "be", "use", "using", "operator", "action"])
# Verbs that name the same change; enough for ratings written as "Upsize instance" to match
# resolutions written as "upgrade to instance type …".
_SYNONYMS = {"upgrade": "upsize", "resize": "upsize", "larger": "upsize", "bigger": "upsize",
             "increase": "modify", "raise": "modify", "change": "modify", "set": "modify",
             "settings": "sysctl", "setting": "sysctl"}


def _tokens(text: str) -> set[str]:
    out = set()
    for w in _WORD.findall(text.lower()):
        if w in _STOP:
            continue
        out.add(_SYNONYMS.get(w, w))
    return out


def classify(action: str, runbook: CompiledRunbook) -> tuple[Rating, SafetyRating | None]:
    """The rating of the best-matching safety entry; RED when nothing matches."""
    words = _tokens(action)
    best: tuple[int, SafetyRating | None] = (0, None)
    for entry in runbook.guardrails.safety_ratings:
        names = _tokens(entry.action) | {t for t in entry.tools}
        score = len(words & names)
        if score > best[0] or (score == best[0] and best[1] is not None and score > 0
                               and _severity(entry.rating) > _severity(best[1].rating)):
            best = (score, entry)
    if best[1] is None or best[0] == 0:
        return "RED", None
    return best[1].rating, best[1]


def tool_rating(tool: str, runbook: CompiledRunbook) -> Rating:
    """Read-only tools are GREEN unless the runbook rates them otherwise."""
    return runbook.safety_map.get(tool, "GREEN")


def _severity(r: str) -> int:
    return {"GREEN": 0, "YELLOW": 1, "RED": 2}.get(r, 2)
