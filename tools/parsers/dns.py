"""DNS failure lines from CoreDNS and from applications (Go, glibc, Node, Java, curl).

A full conntrack table (kernel or EC2 allowance) shows up first as DNS trouble: UDP to :53 is the
most frequent new flow on a node. This parser tells a DNS failure from any other timeout (an
`i/o timeout` to :443 is not a DNS error) and extracts what separates the causes: the upstream
resolver (`ip:53` — kube-dns ClusterIP vs the VPC resolver) and the name queried.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tools.parsers.cri import unwrap_cri

DnsKind = Literal["io_timeout", "no_such_host", "eai_again", "temporary_failure", "servfail", "other"]
DnsSource = Literal["coredns", "app"]

_MAX_TEXT = 2000
_IP = r"(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.%]{2,60}\])"
_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,253}"

# `[ERROR] plugin/errors: 2 api.example.com. A: read udp 10.0.13.9:41234->10.0.0.2:53: i/o timeout`
_COREDNS_ERROR = re.compile(rf"\[ERROR\] plugin/errors: \d+ (?P<name>{_NAME}\.?) (?P<qtype>[A-Z0-9]+): (?P<err>.*)$", re.S)
# CoreDNS `log` plugin: `[INFO] 10.0.12.77:45678 - 1234 "A IN api.example.com. udp 32 false 512" SERVFAIL ...`
_COREDNS_LOG = re.compile(rf'\[INFO\] \S+ - \d+ "(?P<qtype>[A-Z0-9]+) IN (?P<name>{_NAME}\.?) [^"]*" SERVFAIL\b')
_UPSTREAMS = (
    re.compile(rf"->(?P<ip>{_IP}):53\b"),  # read udp src->dst:53
    re.compile(rf"\bdial (?:udp|tcp)[46]? (?P<ip>{_IP}):53\b"),
    re.compile(rf"\bwrite (?:udp|tcp)[46]? \S+->(?P<ip>{_IP}):53\b"),
    re.compile(rf"\bon (?P<ip>{_IP}):53\b"),  # Go: lookup NAME on IP:53
)
_APP_NAMES = (
    re.compile(rf"\blookup (?P<name>{_NAME}\.?)(?: on {_IP}:53\b|: )"),
    re.compile(rf"\bgetaddrinfo (?:EAI_AGAIN|ENOTFOUND) (?P<name>{_NAME}\.?)"),
    re.compile(rf"UnknownHostException: (?P<name>{_NAME}\.?)"),
    re.compile(rf"Could not resolve host: (?P<name>{_NAME}\.?)"),
    re.compile(rf"\bfailed to resolve (?:host(?:name)? )?'?(?P<name>{_NAME}\.?)"),
)
_KINDS: tuple[tuple[DnsKind, re.Pattern[str]], ...] = (
    ("io_timeout", re.compile(r"i/o timeout")),
    ("eai_again", re.compile(r"\bEAI_AGAIN\b")),
    ("temporary_failure", re.compile(r"Temporary failure in name resolution")),
    ("no_such_host", re.compile(r"no such host|\bENOTFOUND\b|Name or service not known")),
    # Go's resolver reports an upstream SERVFAIL as "server misbehaving".
    ("servfail", re.compile(r"\bSERVFAIL\b|server misbehaving")),
)
# Phrases that make a line a name-resolution failure on their own.
_RESOLUTION_PHRASES = re.compile(
    r"\bEAI_AGAIN\b|\bENOTFOUND\b|Temporary failure in name resolution|no such host|UnknownHostException"
    r"|Could not resolve host|Name or service not known"
)
_FAILURE_WORDS = re.compile(
    r"(?i)i/o timeout|refused|unreachable|reset by peer|timed out|no route|server misbehaving|SERVFAIL"
)


class DnsError(BaseModel):
    """One DNS failure. `upstream` is the resolver as `ip:53`, `name` the queried name without the
    trailing root dot. Extension (optional): `qtype` (A, AAAA, …) when CoreDNS logs it."""

    model_config = ConfigDict(frozen=True)

    kind: DnsKind
    upstream: str | None
    name: str | None
    source: DnsSource
    text: str
    qtype: str | None = None


def _kind(text: str) -> DnsKind:
    for kind, pattern in _KINDS:
        if pattern.search(text):
            return kind
    return "other"


def _upstream(text: str) -> str | None:
    for pattern in _UPSTREAMS:
        m = pattern.search(text)
        if m is not None:
            return f"{m['ip']}:53"
    return None


def _clean_name(name: str | None) -> str | None:
    if not name:
        return None
    name = name.rstrip(".")
    return name or None


def _app_name(text: str) -> str | None:
    for pattern in _APP_NAMES:
        m = pattern.search(text)
        if m is not None:
            return _clean_name(m["name"])
    return None


def parse_dns_error(line: str, source: DnsSource | None = None) -> DnsError | None:
    """Parse one log line (CRI-wrapped or not); None when it is not a DNS failure.

    `source` overrides detection for callers that know which file the line came from; otherwise
    CoreDNS's own `plugin/errors` / query-log shapes mark a line as CoreDNS.
    """
    cri = unwrap_cri(line)
    text = (cri.text if cri is not None else line.rstrip("\r\n"))[:_MAX_TEXT * 4]
    shown = text[:_MAX_TEXT]

    m = _COREDNS_ERROR.search(text)
    if m is not None:
        err = m["err"]
        return DnsError(
            kind=_kind(err),
            upstream=_upstream(err),
            name=_clean_name(m["name"]),
            source=source or "coredns",
            text=shown,
            qtype=m["qtype"],
        )
    m = _COREDNS_LOG.search(text)
    if m is not None:
        return DnsError(
            kind="servfail",
            upstream=None,
            name=_clean_name(m["name"]),
            source=source or "coredns",
            text=shown,
            qtype=m["qtype"],
        )

    upstream = _upstream(text)
    name = _app_name(text)
    resolution = _RESOLUTION_PHRASES.search(text) is not None
    # A timeout or refusal is a DNS failure only when it concerns port 53 or a Go `lookup NAME:`.
    if not resolution and not ((upstream or name) and _FAILURE_WORDS.search(text)):
        return None
    return DnsError(
        kind=_kind(text),
        upstream=upstream,
        name=name,
        source=source or "app",
        text=shown,
    )
