"""Where settings come from (flags > environment > config file > profile), and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.aws.conftest import ROLE_ARN, isolate_env
from tools.aws.config import AwsConfig, ConfigError, config_path, load_config

OTHER_ROLE = "arn:aws:iam::210987654321:role/FromFile"


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    isolate_env(monkeypatch, tmp_path)
    return tmp_path


def _write_config(home: Path, text: str) -> Path:
    path = home / "sopgraph" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_config_file_alone(home: Path) -> None:
    _write_config(home, f"aws:\n  bucket: file-bucket\n  role_arn: {OTHER_ROLE}\n  regions: us-west-2, eu-west-1\n"
                        "  poll_interval_s: 2\n  max_attempts: 8\n")
    cfg = load_config()
    assert cfg.bucket == "file-bucket" and cfg.role_arn == OTHER_ROLE
    assert cfg.regions == ["us-west-2", "eu-west-1"]
    assert cfg.poll_interval_s == 2 and cfg.max_attempts == 8
    assert cfg.document_name == "AWSSupport-CollectEKSInstanceLogs" and cfg.retry_mode == "adaptive"


def test_environment_beats_the_file_and_flags_beat_both(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_config(home, f"aws:\n  bucket: file-bucket\n  role_arn: {OTHER_ROLE}\n  region: us-west-2\n")
    monkeypatch.setenv("SOPGRAPH_AWS_BUCKET", "env-bucket")
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    cfg = load_config()
    assert (cfg.bucket, cfg.role_arn, cfg.regions) == ("env-bucket", OTHER_ROLE, ["eu-north-1"])
    monkeypatch.setenv("SOPGRAPH_AWS_REGIONS", "ap-south-1,ap-southeast-1")
    assert load_config().regions == ["ap-south-1", "ap-southeast-1"]  # the sopgraph list beats AWS_REGION
    cfg = load_config(bucket="flag-bucket", role_arn=ROLE_ARN, regions=["us-east-2", "us-east-1"])
    assert (cfg.bucket, cfg.role_arn, cfg.regions) == ("flag-bucket", ROLE_ARN, ["us-east-2", "us-east-1"])


def test_botocore_retry_variables_are_honoured(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    cfg = load_config(bucket="b-b-b", role_arn=ROLE_ARN, regions=["us-east-1"])
    assert cfg.retry_mode == "standard" and cfg.max_attempts == 2


def test_the_profiles_region_is_the_last_resort(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_config = home / "aws-config"
    aws_config.write_text("[profile ops]\nregion = sa-east-1\naws_access_key_id = x\naws_secret_access_key = y\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    cfg = load_config(bucket="b-b-b", role_arn=ROLE_ARN, profile="ops")
    assert cfg.regions == ["sa-east-1"] and cfg.profile == "ops"


def test_missing_settings_are_named_with_where_to_set_them(home: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(bucket="b-b-b")
    assert err.value.message == "the AWS backend needs role_arn, regions"
    assert "--role-arn" in err.value.hint and "SOPGRAPH_AWS_ROLE_ARN" in err.value.hint
    assert "--region" in err.value.hint and str(config_path()) in err.value.hint


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"bucket": "Bad_Bucket"}, "bucket (from --bucket): 'Bad_Bucket' is not a valid S3 bucket name"),
    ({"role_arn": "my-role"}, "role_arn (from --role-arn): 'my-role' is not an IAM role ARN"),
    ({"regions": ["mars-1"]}, "regions (from --region): 'mars-1' is not an AWS region name"),
    ({"endpoint_url": "ftp://x"}, "endpoint_url (from --endpoint-url)"),
])
def test_bad_flag_values_name_the_flag(home: Path, kwargs: dict, needle: str) -> None:
    args = {"bucket": "good-bucket", "role_arn": ROLE_ARN, "regions": ["us-east-1"], **kwargs}
    with pytest.raises(ConfigError) as err:
        load_config(**args)
    assert needle in err.value.message


def test_bad_file_values_name_the_file_and_line(home: Path) -> None:
    path = _write_config(home, f"# sopgraph\naws:\n  bucket: ok-bucket\n  role_arn: {ROLE_ARN}\n  regions: [us-east-1]\n"
                               "  poll_interval_s: -3\n")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert err.value.message.startswith(f"poll_interval_s (from {path} line 6):")


def test_unknown_keys_and_broken_yaml_point_at_the_line(home: Path) -> None:
    path = _write_config(home, "aws:\n  bucket: b-b-b\n  role-arn: x\n")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert err.value.message == f"{path} line 3: unknown setting `aws.role-arn`"
    assert "role_arn" in err.value.hint
    _write_config(home, "aws:\n  bucket: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert err.value.message.startswith(f"{path} line ") and "invalid YAML" in err.value.message
    _write_config(home, "aws: just-a-string\n")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert err.value.message == f"{path} line 1: `aws:` must be a mapping of settings"


def test_missing_credentials_fail_before_the_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_env(monkeypatch, tmp_path, credentials=False)
    with pytest.raises(ConfigError) as err:
        load_config(bucket="b-b-b", role_arn=ROLE_ARN, regions=["us-east-1"])
    assert err.value.message == "no AWS credentials found"
    assert "AWS_PROFILE" in err.value.hint and "aws sso login" in err.value.hint
    cfg = load_config(bucket="b-b-b", role_arn=ROLE_ARN, regions=["us-east-1"], check_creds=False)
    assert cfg.bucket == "b-b-b"


def test_an_unknown_profile_is_named(home: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(bucket="b-b-b", role_arn=ROLE_ARN, regions=["us-east-1"], profile="nope")
    assert err.value.message == "AWS profile 'nope' is not defined"


def test_the_settings_dict_holds_no_secret(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKESECRETKEY123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very/secret/value")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-secret")
    settings = load_config(bucket="b-b-b", role_arn=ROLE_ARN, regions=["us-east-1"]).model_dump(mode="json")
    text = json.dumps(settings)
    for secret in ("AKIAFAKESECRETKEY123", "very/secret/value", "session-secret"):
        assert secret not in text
    assert AwsConfig.model_validate(settings).bucket == "b-b-b"  # what make_backend rebuilds from


def test_clients_use_the_configured_botocore_retry_mode(home: Path, tmp_path: Path) -> None:
    from tools.aws.backend import AwsBackend
    from tools.bundle.store import BundleStore

    cfg = AwsConfig(regions=["us-east-1"], bucket="b-b-b", role_arn=ROLE_ARN, endpoint_url="http://127.0.0.1:9")
    client = AwsBackend(cfg, BundleStore(tmp_path / "s")).aws.client("ssm", "us-east-1")
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 5}
    assert client.meta.endpoint_url == "http://127.0.0.1:9" and client.meta.region_name == "us-east-1"
