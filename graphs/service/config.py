"""Service settings: `$SOPGRAPH_HOME/service.yaml`, then environment variables on top.

Tokens may come from the file or from SOPGRAPH_TOKENS (JSON), so that a deployment can keep them in
a secret store rather than on disk. A bad file is reported with its path and line, never a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from graphs.checkpoint import default_state_path, sopgraph_home

ROLES = ("viewer", "alerts", "operator", "admin")


class ConfigError(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class Identity(BaseModel):
    """Who a token belongs to. Names may appear on a runbook's approver list; so may roles."""

    name: str
    roles: list[str] = Field(default_factory=list)


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    token: SecretStr | None = None
    # The hex SHA-256 of the token, so the file need not hold the token itself.
    token_sha256: str | None = None

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: list[str]) -> list[str]:
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown role(s) {unknown}; roles are {', '.join(ROLES)}")
        return roles

    @field_validator("token_sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip().lower()
            if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
                raise ValueError("token_sha256 must be 64 hex digits")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> TokenEntry:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("give exactly one of token or token_sha256")
        if self.token is not None and len(self.token.get_secret_value()) < 16:
            raise ValueError("token is too short (at least 16 characters)")
        return self

    @property
    def identity(self) -> Identity:
        return Identity(name=self.name, roles=list(self.roles))


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[TokenEntry] = Field(default_factory=list)
    # GET endpoints and the page without a token (state changes always need one).
    public_reads: bool = False
    webhook_url: str | None = None
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_attempts: int = Field(default=4, ge=1, le=10)
    webhook_backoff_s: float = Field(default=0.5, ge=0)
    # Where people reach the page; used for links in notifications.
    public_url: str | None = None
    dedup_window_s: float = Field(default=900.0, ge=0)
    lease_s: float = Field(default=60.0, gt=0)
    heartbeat_s: float = Field(default=10.0, gt=0)
    poll_s: float = Field(default=0.5, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    model: str | None = None
    store_dir: Path | None = None
    runbook_dirs: list[Path] = Field(default_factory=list)
    backend: str = "local"
    database_url: str | None = None
    state_path: Path | None = None
    audit_path: Path | None = None
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    cookie_secure: bool = False

    @field_validator("webhook_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value:
            parsed = urlparse(value)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ValueError(f"must be an http(s) URL, not {value!r}")
        return value or None

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        if value not in ("local", "aws"):
            raise ValueError("backend must be local or aws")
        return value

    @model_validator(mode="after")
    def _lease_outlives_heartbeat(self) -> ServiceConfig:
        if self.heartbeat_s * 2 > self.lease_s:
            raise ValueError(f"lease_s ({self.lease_s}) must be at least twice heartbeat_s ({self.heartbeat_s}), "
                             "or a live worker loses its run to another")
        return self

    def resolved_state_path(self) -> Path:
        return self.state_path or default_state_path()

    def resolved_model(self) -> str:
        if self.model:
            return self.model
        from agents.providers import default_model_spec

        return default_model_spec()

    def resolved_store_dir(self) -> Path:
        if self.store_dir:
            return self.store_dir
        from tools.bundle.store import default_store_home

        return default_store_home()


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = dict(os.environ if env is None else env)
    return Path(env.get("SOPGRAPH_SERVICE_CONFIG") or sopgraph_home(env) / "service.yaml")


_ENV_FIELDS = {
    "SOPGRAPH_WEBHOOK_URL": "webhook_url",
    "SOPGRAPH_PUBLIC_URL": "public_url",
    "SOPGRAPH_DEDUP_WINDOW_S": "dedup_window_s",
    "SOPGRAPH_LEASE_S": "lease_s",
    "SOPGRAPH_HEARTBEAT_S": "heartbeat_s",
    "SOPGRAPH_POLL_S": "poll_s",
    "SOPGRAPH_MAX_ATTEMPTS": "max_attempts",
    "SOPGRAPH_STORE": "store_dir",
    "SOPGRAPH_DATABASE_URL": "database_url",
    "SOPGRAPH_PUBLIC_READS": "public_reads",
}


def _tokens_from_env(raw: str) -> list[dict[str, Any]]:
    """`[{"name":…, "roles":[…], "token":…}, …]` or `{"<token>": {"name":…, "roles":[…]}, …}`."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"SOPGRAPH_TOKENS is not JSON: {exc}") from None
    if isinstance(data, dict):
        out = []
        for token, ident in data.items():
            if not isinstance(ident, dict):
                raise ConfigError("SOPGRAPH_TOKENS: each token maps to {\"name\": …, \"roles\": […]}")
            out.append({**ident, "token": token})
        return out
    if isinstance(data, list):
        return data
    raise ConfigError("SOPGRAPH_TOKENS must be a JSON list of entries or an object token → identity")


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location, as deep as it resolves."""
    import yaml

    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def _read_file(path: Path) -> tuple[dict[str, Any], Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the service config must be a mapping of settings")
    return data, node


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> ServiceConfig:
    env = dict(os.environ if env is None else env)
    explicit = path is not None
    path = path or default_config_path(env)
    data: dict[str, Any] = {}
    node = None
    if path.exists():
        data, node = _read_file(path)
    elif explicit:
        raise ConfigError(f"{path}: no such file")
    for var, field in _ENV_FIELDS.items():
        if env.get(var):
            data[field] = env[var]
    if env.get("SOPGRAPH_TOKENS"):
        data["tokens"] = [*(data.get("tokens") or []), *_tokens_from_env(env["SOPGRAPH_TOKENS"])]
    data.update(overrides or {})
    try:
        return ServiceConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc) or "(top)"
            line = _line_of(node, loc) if node is not None and loc and loc[0] in _file_keys(node) else None
            where = f"{path}:{line}" if line else ("environment" if loc and loc[0] not in _file_keys(node) else str(path))
            # Never echo the input: it may be a token.
            problems.append(f"{where}: {field}: {err['msg']}")
        raise ConfigError("invalid service config: " + "; ".join(problems),
                          hint="see docs/service.md for the settings") from None


def _file_keys(node: Any) -> set[str]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return {getattr(k, "value", "") for k, _ in node.value}
    return set()
