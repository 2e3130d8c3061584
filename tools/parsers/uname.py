"""`kernel/uname.txt` (`uname -a`): kernel release, version and distribution family.

The kernel version decides which conntrack defaults apply (max = 4 × buckets before 5.15, = buckets
from 5.15) and which `conntrack -S` counters to expect (`ignore` before 5.10); the family (AL2 vs
AL2023) decides which files the bundle should have (AL2023 has no var_log/messages).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

_RELEASE = re.compile(r"^(?P<major>\d{1,4})\.(?P<minor>\d{1,4})(?:\.(?P<patch>\d{1,6}))?(?=$|[-.+_~a-z])")
_AL2 = re.compile(r"\.amzn2(?:\.|$)")
_AL2023 = re.compile(r"\.amzn2023(?:\.|$)")
_ARCHES = frozenset(
    {"x86_64", "aarch64", "arm64", "i386", "i686", "armv7l", "ppc64le", "s390x", "riscv64", "amd64"}
)


class Uname(BaseModel):
    """A parsed `uname -a` (or bare `uname -r`) line; `hostname` and `arch` are None when absent."""

    model_config = ConfigDict(frozen=True)

    kernel_release: str
    version: tuple[int, int, int]
    family: Literal["AL2", "AL2023", "other"]
    arch: str | None
    hostname: str | None


def _family(release: str) -> Literal["AL2", "AL2023", "other"]:
    if _AL2023.search(release):
        return "AL2023"
    if _AL2.search(release):
        return "AL2"
    return "other"


def _parse_line(line: str) -> Uname | None:
    tokens = line.split()
    if not tokens:
        return None
    hostname: str | None = None
    release_index: int | None = None
    if tokens[0] == "Linux" and len(tokens) >= 3 and _RELEASE.match(tokens[2]):
        hostname, release_index = tokens[1], 2
    elif _RELEASE.match(tokens[0]) and len(tokens) == 1:
        release_index = 0  # `uname -r`
    elif tokens[0] == "Linux" and len(tokens) >= 2 and _RELEASE.match(tokens[1]):
        release_index = 1  # `uname -sr`
    if release_index is None:
        return None
    release = tokens[release_index]
    m = _RELEASE.match(release)
    if m is None:
        return None
    version = (int(m["major"]), int(m["minor"]), int(m["patch"] or 0))
    # uname -a ends with `machine processor platform OS`; the first arch word after the `#N ...`
    # build string is the machine. Fall back to the release suffix (`.x86_64`).
    arch = next((t for t in tokens[release_index + 1 :] if t in _ARCHES), None)
    if arch is None:
        arch = next((a for a in _ARCHES if release.endswith("." + a)), None)
    return Uname(
        kernel_release=release,
        version=version,
        family=_family(release),
        arch=arch,
        hostname=hostname,
    )


def parse_uname(text: str) -> Uname | None:
    """Parse the first line of `text` that looks like uname output; None if there is none."""
    for line in text.splitlines():
        parsed = _parse_line(line)
        if parsed is not None:
            return parsed
    return None
