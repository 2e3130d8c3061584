"""moto in server mode on 127.0.0.1 (once per session) with SSM Automation simulated, and the rig
every AWS backend test starts from: a bucket, fake credentials, a store, a backend, a context."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.aws.sim import Sim, install
from tools.aws.backend import AwsBackend
from tools.aws.config import AwsConfig
from tools.bundle.store import BundleStore
from tools.context import ToolContext

ROLE_ARN = "arn:aws:iam::123456789012:role/SopgraphCollectAutomation"
_AMBIENT = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE",
    "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS", "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    "SOPGRAPH_AWS_BUCKET", "SOPGRAPH_AWS_ROLE_ARN", "SOPGRAPH_AWS_REGIONS", "SOPGRAPH_AWS_ENDPOINT_URL",
    "SOPGRAPH_AWS_POLL_INTERVAL_S", "SOPGRAPH_AWS_WAIT_TIMEOUT_S", "SOPGRAPH_AWS_DOCUMENT", "SOPGRAPH_AWS_INCIDENT",
    "SOPGRAPH_MODEL", "ANTHROPIC_API_KEY",
)


@pytest.fixture(scope="session")
def moto_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    patcher = pytest.MonkeyPatch()
    sim = Sim(bundle_dir=tmp_path_factory.mktemp("sim-bundles"))
    install(patcher, sim)  # before start(): the server thread dispatches to the patched class
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    sim.url = f"http://{host}:{port}"
    try:
        yield sim
    finally:
        server.stop()
        patcher.undo()


def isolate_env(monkeypatch: pytest.MonkeyPatch, home: Path, *, credentials: bool = True) -> None:
    """Fake credentials (or none), no ambient AWS config, and a private SOPGRAPH_HOME."""
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("SOPGRAPH_HOME", str(home / "sopgraph"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    if credentials:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    else:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)


@pytest.fixture
def sim(moto_sim: Sim, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Sim:
    isolate_env(monkeypatch, tmp_path)
    moto_sim.reset()
    return moto_sim


@dataclass
class Rig:
    sim: Sim
    bucket: str
    cfg: AwsConfig
    store: BundleStore
    backend: AwsBackend
    ctx: ToolContext
    home: Path

    def with_config(self, **changes: object) -> Rig:
        """The same bucket and store seen by a new backend (as a resumed run in another process would)."""
        cfg = self.cfg.model_copy(update=changes)
        backend = AwsBackend(cfg, self.store)
        return Rig(self.sim, self.bucket, cfg, self.store, backend,
                   ToolContext(store=self.store, backend=backend), self.home)


@pytest.fixture
def rig(sim: Sim, tmp_path: Path) -> Rig:
    bucket = sim.bucket()
    cfg = AwsConfig(regions=["us-east-1"], bucket=bucket, role_arn=ROLE_ARN, endpoint_url=sim.url,
                    poll_interval_s=0.01, wait_timeout_s=10, retry_mode="standard", max_attempts=1,
                    # A fixed incident: the default token scope (the UTC hour) could roll over mid-test.
                    incident="INC-rig")
    store = BundleStore(tmp_path / "sopgraph" / "bundles")
    backend = AwsBackend(cfg, store)
    return Rig(sim, bucket, cfg, store, backend, ToolContext(store=store, backend=backend), tmp_path)
