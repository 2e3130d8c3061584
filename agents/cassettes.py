"""Recorded model traffic (vcrpy cassettes) for tests and the evals harness.

Why these settings (measured in shared/reference/stack-feasibility.md):
- match on method, scheme, host, port, path, query and the JSON body, never on headers: the SDK
  sends machine-specific `x-stainless-*` headers and a retry counter, so header matching breaks
  replay on another laptop or after a retried call;
- credentials are request headers (x-api-key, SigV4 Authorization / X-Amz-*), so they are
  filtered out; the API's response headers that identify the account or request are scrubbed;
- 429/5xx responses are not stored, so a cassette holds only the answer and replays without
  re-doing the retry and its backoff sleep;
- the boto3 patcher is skipped so AWS tool calls (boto3 → moto on 127.0.0.1) pass through while
  the Anthropic SDK's httpx2 transport, Bedrock included, is recorded.

vcr is imported lazily: it costs ~0.35 s and is only needed when a cassette is used.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from agents.providers import ProviderError

if TYPE_CHECKING:
    import vcr

MATCH_ON: tuple[str, ...] = ("method", "scheme", "host", "port", "path", "query", "body")
FILTERED_REQUEST_HEADERS: tuple[str, ...] = (
    "x-api-key",
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
)
SCRUBBED_RESPONSE_HEADERS: frozenset[str] = frozenset(
    {
        "anthropic-organization-id",
        "request-id",
        "x-request-id",
        "set-cookie",
        "cf-ray",
        "x-amzn-requestid",
        "x-amzn-request-id",
        "x-amz-request-id",
        "x-amz-id-2",
    }
)
RECORD_HINT = "sopgraph eval --model {spec} --record"
_BODY_PREVIEW = 120


class CassetteMismatch(ProviderError):
    """A model request under replay is not in the cassette.

    Raised by the chat model instead of the SDK's bare "Connection error.", with a message that
    says which cassette, which request, what differs and how to re-record.
    """


def drop_failed_and_scrub(response: dict[str, Any]) -> dict[str, Any] | None:
    """vcrpy before_record_response hook: keep only answers, without account identifiers."""
    code = int(response.get("status", {}).get("code", 0))
    if code == 429 or code >= 500:
        return None
    headers = response.get("headers") or {}
    response["headers"] = {k: v for k, v in headers.items() if k.lower() not in SCRUBBED_RESPONSE_HEADERS}
    return response


def make_vcr(cassette_dir: str | Path, record: bool) -> vcr.VCR:
    """A VCR that replays strictly (record_mode "none") unless `record`.

    Recording uses mode "all" with drop_unused_requests, i.e. a fresh re-recording of every
    cassette used: stale interactions from an earlier prompt never linger next to new ones.
    """
    import vcr

    return vcr.VCR(
        cassette_library_dir=str(cassette_dir),
        record_mode="all" if record else "none",
        drop_unused_requests=record,
        match_on=MATCH_ON,
        filter_headers=list(FILTERED_REQUEST_HEADERS),
        decode_compressed_response=True,
        before_record_response=drop_failed_and_scrub,
        skip_patchers=["boto3"],
    )


REPLAY_PLACEHOLDERS: dict[str, str] = {
    "ANTHROPIC_API_KEY": "sk-ant-replay-placeholder",
    "AWS_ACCESS_KEY_ID": "AKIAREPLAYPLACEHOLDER",
    "AWS_SECRET_ACCESS_KEY": "replay-placeholder",
    "AWS_REGION": "us-east-1",
}


def replay_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` plus placeholder credentials for replay in CI, where no real key exists.

    Credentials are filtered out of cassettes and not matched on, so any value replays; they are
    only needed because the SDK refuses to build a request (and Bedrock signs it) without them.
    Real values already in `env` are kept. The region is part of the Bedrock host name, so a
    cassette recorded in another region needs AWS_REGION set to that region.
    """
    merged = dict(env)
    for name, value in REPLAY_PLACEHOLDERS.items():
        if name == "AWS_REGION" and merged.get("AWS_DEFAULT_REGION"):
            continue
        if not (merged.get(name) or "").strip():
            merged[name] = value
    return merged


def find_cassette_miss(exc: BaseException | None) -> BaseException | None:
    """The vcrpy CannotOverwriteExistingCassetteException behind `exc`, if any.

    The SDK wraps it as APIConnectionError (its __cause__), possibly after retries, so the
    cause/context chain is walked. vcr.errors is looked up in sys.modules rather than imported:
    if vcr was never loaded, no cassette can be active and the answer is None.
    """
    errors = sys.modules.get("vcr.errors")
    if errors is None:
        return None
    miss_type = errors.CannotOverwriteExistingCassetteException
    seen: set[int] = set()
    current = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, miss_type):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def explain_cassette_miss(exc: BaseException) -> str:
    """A message for a replay miss: the cassette, the request, what differs, how to re-record."""
    miss = find_cassette_miss(exc)
    if miss is None:
        return f"model request failed under cassette replay: {exc}"
    cassette = getattr(miss, "cassette", None)
    path = getattr(cassette, "_path", None) or "<unknown cassette>"
    request = getattr(miss, "failed_request", None)
    reason = getattr(miss, "reason", "no_match")
    method = getattr(request, "method", "?")
    url = getattr(request, "uri", "") or ""
    req_path = urlsplit(url).path or url
    body = _json_body(request)
    spec = _spec_for(req_path, body)

    lines = [f"cassette mismatch: no recorded response for this model request in {path}"]
    lines.append(f"  request: {method} {req_path}  {_describe_body(request, body)}")
    if reason == "cassette_not_found":
        lines.append("  the cassette does not exist (it was never recorded, or the path is wrong)")
    elif reason == "already_played":
        lines.append(
            "  every matching recorded interaction was already played: this run makes more model "
            "calls than the recording did"
        )
    else:
        similar = list(getattr(miss, "similar_requests", None) or [])
        if similar:
            closest, _ok, failed = similar[0]
            names = ", ".join(name for name, _msg in failed) or "nothing"
            lines.append(f"  closest recorded request differs in: {names}")
            if any(name == "body" for name, _msg in failed):
                where = _first_difference(_json_body(closest), body)
                if where:
                    lines.append(f"  first difference: {where}")
        else:
            lines.append("  the cassette holds nothing similar to it")
    lines.append(
        "  the prompt, tools or model changed since the cassette was recorded; if that is intended, "
        f"re-record with: {RECORD_HINT.format(spec=spec)}"
    )
    return "\n".join(lines)


def _json_body(request: Any) -> Any:
    raw = getattr(request, "body", None)
    if raw is None:
        return None
    if isinstance(raw, bytes | bytearray):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def _describe_body(request: Any, body: Any) -> str:
    raw = getattr(request, "body", None) or b""
    data = raw if isinstance(raw, bytes | bytearray) else str(raw).encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()[:12]
    parts = [f"body sha256:{digest}"]
    if isinstance(body, dict):
        if body.get("model"):
            parts.append(f"model {body['model']}")
        if isinstance(body.get("messages"), list):
            parts.append(f"{len(body['messages'])} messages")
        if isinstance(body.get("tools"), list):
            parts.append(f"{len(body['tools'])} tools")
    return "(" + ", ".join(parts) + ")"


def _spec_for(path: str, body: Any) -> str:
    """The --model spec that would reproduce this request: anthropic:<model> or bedrock:<id>."""
    segments = path.split("/")
    if len(segments) >= 3 and segments[1] == "model":
        return f"bedrock:{unquote(segments[2])}"
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        return f"anthropic:{body['model']}"
    return "anthropic:<model>"


def _first_difference(recorded: Any, current: Any, path: str = "body") -> str | None:
    """Where two JSON values first differ, as `path: recorded … ≠ now …` (None when equal)."""
    if isinstance(recorded, dict) and isinstance(current, dict):
        for key in list(recorded) + [k for k in current if k not in recorded]:
            if key not in current:
                return f"{path}.{key}: present in the recording, absent now"
            if key not in recorded:
                return f"{path}.{key}: absent in the recording, present now"
            found = _first_difference(recorded[key], current[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(current, list):
        for index, (old, new) in enumerate(zip(recorded, current, strict=False)):
            found = _first_difference(old, new, f"{path}[{index}]")
            if found:
                return found
        if len(recorded) != len(current):
            return f"{path}: {len(recorded)} items recorded, {len(current)} now"
        return None
    if recorded == current:
        return None
    if isinstance(recorded, str) and isinstance(current, str):
        return f"{path}: {_string_difference(recorded, current)}"
    return f"{path}: recorded {_preview(recorded)} ≠ now {_preview(current)}"


def _string_difference(recorded: str, current: str) -> str:
    """Show both strings around their first differing character, not just their (shared) start."""
    index = next(
        (i for i, (a, b) in enumerate(zip(recorded, current, strict=False)) if a != b),
        min(len(recorded), len(current)),
    )
    start = max(0, index - 30)

    def window(text: str) -> str:
        piece = text[start : index + 60]
        return ("…" if start else "") + repr(piece)[1:-1] + ("…" if index + 60 < len(text) else "")

    return f"differs at character {index}: recorded '{window(recorded)}' ≠ now '{window(current)}'"


def _preview(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    if len(text) <= _BODY_PREVIEW:
        return text
    return text[:_BODY_PREVIEW] + f"…({len(text)} chars)"
