"""Where the AWS backend's settings come from, and which source wins.

Precedence, highest first: CLI flags, environment variables, the config file
(`$SOPGRAPH_HOME/config.yaml`, else `~/.sopgraph/config.yaml`, key `aws:`), then defaults; for the
region the named profile's region (`~/.aws/config`) is the last resort. Every bad value is
reported with the place it came from (flag, variable, or file and line), because "invalid bucket"
alone sends the operator hunting through three places.

The resulting `AwsConfig` is stored in the run's checkpoint (it is how a resumed run in another
process rebuilds the backend), so it holds names and ARNs only, never credentials: boto3 finds
those itself, through the profile or its usual chain.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tools.aws.errors import CREDENTIALS_HINT

DOCUMENT_NAME = "AWSSupport-CollectEKSInstanceLogs"
CONFIG_KEY = "aws"

# Our own fixed, reviewed patterns (never user-supplied regexes), so Python `re` is fine here.
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_ROLE_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
_ENDPOINT = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(?::\d{1,5})?(?:/\S*)?")
_DOCUMENT = re.compile(r"[A-Za-z0-9_.:/-]{3,128}")

ENV_BUCKET = "SOPGRAPH_AWS_BUCKET"
ENV_ROLE_ARN = "SOPGRAPH_AWS_ROLE_ARN"
ENV_REGIONS = "SOPGRAPH_AWS_REGIONS"
ENV_ENDPOINT = "SOPGRAPH_AWS_ENDPOINT_URL"
ENV_POLL = "SOPGRAPH_AWS_POLL_INTERVAL_S"
ENV_WAIT = "SOPGRAPH_AWS_WAIT_TIMEOUT_S"
ENV_DOCUMENT = "SOPGRAPH_AWS_DOCUMENT"
ENV_INCIDENT = "SOPGRAPH_AWS_INCIDENT"
# botocore's own variables; AWS_MAX_ATTEMPTS counts the first attempt too, as `max_attempts` does here.
ENV_RETRY_MODE = "AWS_RETRY_MODE"
ENV_MAX_ATTEMPTS = "AWS_MAX_ATTEMPTS"


class ConfigError(Exception):
    """A setting is missing or wrong; `hint` says how to fix it. The CLI prints both, exit 2."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class AwsConfig(BaseModel):
    """Everything the AWS backend needs to find nodes, start the collector and fetch its bundle."""

    model_config = ConfigDict(extra="forbid")

    regions: list[str] = Field(min_length=1, description="regions to look for instances in, in order")
    bucket: str = Field(description="S3 bucket the collector uploads to (LogDestination)")
    role_arn: str = Field(description="AutomationAssumeRole passed to SSM")
    profile: str | None = None
    endpoint_url: str | None = None
    document_name: str = DOCUMENT_NAME
    poll_interval_s: float = Field(15.0, gt=0, le=3600)
    wait_timeout_s: float = Field(900.0, ge=0, le=86_400)
    retry_mode: Literal["adaptive", "standard"] = "adaptive"
    max_attempts: int = Field(5, ge=1, le=20, description="attempts per AWS call, the first included")
    # Scope of the derived idempotency token; when unset a token covers one instance for one UTC hour.
    incident: str | None = Field(None, max_length=200)
    max_download_bytes: int = Field(8 << 30, gt=0)
    download_attempts: int = Field(3, ge=1, le=10)

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        for region in value:
            if not _REGION.fullmatch(region):
                raise ValueError(f"{region!r} is not an AWS region name like us-east-1")
        return list(dict.fromkeys(value))

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.fullmatch(value) or ".." in value:
            raise ValueError(f"{value!r} is not a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')")
        return value

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, value: str) -> str:
        if not _ROLE_ARN.fullmatch(value):
            raise ValueError(f"{value!r} is not an IAM role ARN like arn:aws:iam::123456789012:role/NAME")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not _ENDPOINT.fullmatch(value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("document_name")
    @classmethod
    def _document(cls, value: str) -> str:
        if not _DOCUMENT.fullmatch(value):
            raise ValueError(f"{value!r} is not an SSM document name")
        return value


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    """`$SOPGRAPH_HOME/config.yaml` when set, else `~/.sopgraph/config.yaml` (the store's home rule)."""
    home = env.get("SOPGRAPH_HOME")
    if home:
        return Path(home).expanduser() / "config.yaml"
    user_home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return user_home / ".sopgraph" / "config.yaml"


class _FileSettings(BaseModel):
    values: dict[str, Any]
    lines: dict[str, int]
    path: Path


def _read_config_file(path: Path) -> _FileSettings:
    """The `aws:` mapping of the config file, with the line of each key for error messages."""
    import yaml

    empty = _FileSettings(values={}, lines={}, path=path)
    if not path.is_file():
        return empty
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({type(exc).__name__}: {exc})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path} line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}", hint="fix the file or remove it") from None
    if data is None:
        return empty
    if not isinstance(data, dict):
        raise ConfigError(f"{path} line 1: the config file must be a mapping with an `{CONFIG_KEY}:` key")
    section = data.get(CONFIG_KEY)
    if section is None:
        return empty
    lines: dict[str, int] = {}
    section_line = 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == CONFIG_KEY:
                section_line = key_node.start_mark.line + 1
                if isinstance(value_node, yaml.MappingNode):
                    for k, _v in value_node.value:
                        lines[str(k.value)] = k.start_mark.line + 1
    if not isinstance(section, dict):
        raise ConfigError(f"{path} line {section_line}: `{CONFIG_KEY}:` must be a mapping of settings")
    known = set(AwsConfig.model_fields) | {"region"}
    for key in section:
        if str(key) not in known:
            raise ConfigError(
                f"{path} line {lines.get(str(key), section_line)}: unknown setting `{CONFIG_KEY}.{key}`",
                hint="known settings: " + ", ".join(sorted(known)),
            )
    values = {str(k): v for k, v in section.items() if v is not None}
    if "region" in values:
        if "regions" in values:
            raise ConfigError(
                f"{path} line {lines.get('region', section_line)}: give `region` or `regions`, not both"
            )
        values["regions"] = values.pop("region")
        lines["regions"] = lines.get("region", section_line)
    if isinstance(values.get("regions"), str):
        values["regions"] = _split(values["regions"])
    return _FileSettings(values=values, lines=lines, path=path)


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _profile_region(profile: str | None) -> str | None:
    """The region configured for the profile in ~/.aws/config, if any (boto3's own lookup)."""
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.session.Session(profile_name=profile).region_name
    except BotoCoreError:
        return None


def check_credentials(cfg: AwsConfig) -> None:
    """Fail before a run starts when boto3 cannot find any credentials for the profile.

    Only the local credential chain is consulted (nothing is sent to AWS), so this is cheap, and
    it turns the first tool call's NoCredentialsError into a clear message at the prompt instead.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        session = boto3.session.Session(profile_name=cfg.profile)
        creds = session.get_credentials()
    except ProfileNotFound:
        raise ConfigError(
            f"AWS profile {cfg.profile!r} is not defined",
            hint="check --profile / AWS_PROFILE against ~/.aws/config (`aws configure list-profiles`)",
        ) from None
    except BotoCoreError as exc:
        raise ConfigError(f"cannot load AWS credentials: {exc}", hint=CREDENTIALS_HINT) from None
    if creds is None:
        raise ConfigError("no AWS credentials found", hint=CREDENTIALS_HINT)


def load_config(
    *,
    bucket: str | None = None,
    role_arn: str | None = None,
    regions: list[str] | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    env: Mapping[str, str] | None = None,
    check_creds: bool = True,
) -> AwsConfig:
    """Merge flags, environment and config file into one validated `AwsConfig` (see module doc)."""
    env = os.environ if env is None else env
    path = config_path(env)
    file = _read_config_file(path)
    chosen: dict[str, Any] = {}
    source: dict[str, str] = {}

    def pick(field: str, *candidates: tuple[Any, str]) -> None:
        for value, where in candidates:
            if value not in (None, "", []):
                chosen[field] = value
                source[field] = where
                return
        if field in file.values:
            chosen[field] = file.values[field]
            source[field] = f"{path} line {file.lines.get(field, 1)}"

    flag_regions = [r for raw in (regions or []) for r in _split(raw)]
    pick("bucket", (bucket, "--bucket"), (env.get(ENV_BUCKET), ENV_BUCKET))
    pick("role_arn", (role_arn, "--role-arn"), (env.get(ENV_ROLE_ARN), ENV_ROLE_ARN))
    pick(
        "regions",
        (flag_regions, "--region"),
        (_split(env.get(ENV_REGIONS, "")), ENV_REGIONS),
        ([env["AWS_REGION"]] if env.get("AWS_REGION") else None, "AWS_REGION"),
        ([env["AWS_DEFAULT_REGION"]] if env.get("AWS_DEFAULT_REGION") else None, "AWS_DEFAULT_REGION"),
    )
    pick("profile", (profile, "--profile"), (env.get("AWS_PROFILE"), "AWS_PROFILE"))
    pick("endpoint_url", (endpoint_url, "--endpoint-url"), (env.get(ENV_ENDPOINT), ENV_ENDPOINT))
    pick("poll_interval_s", (env.get(ENV_POLL), ENV_POLL))
    pick("wait_timeout_s", (env.get(ENV_WAIT), ENV_WAIT))
    pick("document_name", (env.get(ENV_DOCUMENT), ENV_DOCUMENT))
    pick("incident", (env.get(ENV_INCIDENT), ENV_INCIDENT))
    pick("retry_mode", (env.get(ENV_RETRY_MODE), ENV_RETRY_MODE))
    pick("max_attempts", (env.get(ENV_MAX_ATTEMPTS), ENV_MAX_ATTEMPTS))
    for field in ("max_download_bytes", "download_attempts"):
        pick(field)

    if "regions" not in chosen:
        region = _profile_region(chosen.get("profile"))
        if region:
            chosen["regions"] = [region]
            source["regions"] = f"profile {chosen.get('profile') or 'default'} in ~/.aws/config"
    missing = [
        (field, how)
        for field, how in (
            ("bucket", f"--bucket, {ENV_BUCKET}, or `bucket:` under `aws:` in {path}"),
            ("role_arn", f"--role-arn, {ENV_ROLE_ARN}, or `role_arn:` under `aws:` in {path}"),
            ("regions", f"--region, {ENV_REGIONS}, AWS_REGION, or `regions:` under `aws:` in {path}"),
        )
        if field not in chosen
    ]
    if missing:
        names = ", ".join(f for f, _ in missing)
        raise ConfigError(
            f"the AWS backend needs {names}",
            hint="; ".join(f"set {f} with {how}" for f, how in missing),
        )
    try:
        cfg = AwsConfig.model_validate(chosen)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "aws"
        where = source.get(field, "defaults")
        raise ConfigError(
            f"{field} (from {where}): {err['msg'].removeprefix('Value error, ')}",
            hint="see docs/aws.md for the settings and where they come from",
        ) from None
    if check_creds:
        check_credentials(cfg)
    return cfg
