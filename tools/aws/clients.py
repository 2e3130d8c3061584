"""One boto3 session per backend, one client per service and region, one place that maps failures.

Clients are created lazily (boto3 is imported on first use) and configured with botocore's own
retry modes: `adaptive` adds client-side rate limiting on top of `standard`'s throttling-aware
exponential backoff, which is what keeps a fleet-wide cluster_health from tripping API limits.
`max_attempts` counts the first attempt, so 1 means fail fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tools.aws.config import AwsConfig
from tools.aws.errors import from_botocore

_LOADER: Any = None


def _shared_loader() -> Any:
    """One botocore model loader per process.

    Every run builds its own backend (the HTTP service runs many), and a fresh session re-reads
    the service models from disk: about 0.4 s for ec2+ssm+s3. The models never change in a
    process; credentials and profiles stay per session.
    """
    global _LOADER
    if _LOADER is None:
        from botocore.loaders import create_loader

        _LOADER = create_loader()
    return _LOADER


class AwsClients:
    def __init__(self, cfg: AwsConfig):
        self.cfg = cfg
        self._session: Any = None
        self._clients: dict[tuple[str, str], Any] = {}

    def _new_session(self) -> Any:
        import boto3
        import botocore.session
        from botocore.exceptions import BotoCoreError

        core = botocore.session.get_session()
        loader = _shared_loader()
        core.register_component("data_loader", loader)
        try:
            session = boto3.session.Session(botocore_session=core, profile_name=self.cfg.profile)
        except BotoCoreError as exc:
            raise from_botocore(exc, service="sts", operation="session", region=None) from None
        # boto3 appends its own data folder to the loader's search path for every new session.
        loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))
        return session

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            from botocore.config import Config

            if self._session is None:
                self._session = self._new_session()
            config = Config(
                retries={"mode": self.cfg.retry_mode, "total_max_attempts": self.cfg.max_attempts},
                connect_timeout=10,
                read_timeout=60,
                user_agent_extra="sopgraph",
                # A custom endpoint (moto, a VPC endpoint, LocalStack) rarely serves virtual-host buckets.
                s3={"addressing_style": "path"} if self.cfg.endpoint_url else None,
            )
            self._clients[key] = self._session.client(
                service, region_name=region, endpoint_url=self.cfg.endpoint_url, config=config
            )
        return self._clients[key]

    def call(self, service: str, region: str, method: str, **kwargs: Any) -> dict[str, Any]:
        """`client.method(**kwargs)`, with every botocore failure turned into an `AwsCallError`."""
        from botocore.exceptions import BotoCoreError, ClientError

        client: Any = None
        try:
            client = self.client(service, region)
            return getattr(client, method)(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise from_botocore(exc, service=service, operation=_operation(client, method), region=region) from None

    def pages(self, service: str, region: str, method: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of a paginated call, failures mapped as in `call`."""
        from botocore.exceptions import BotoCoreError, ClientError

        client: Any = None
        try:
            client = self.client(service, region)
            yield from client.get_paginator(method).paginate(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise from_botocore(exc, service=service, operation=_operation(client, method), region=region) from None


def _operation(client: Any, method: str) -> str:
    """The API operation name (`ListObjectsV2`) behind a client method (`list_objects_v2`)."""
    if client is not None:
        return client.meta.method_to_api_mapping.get(method, method)
    return "".join(part.capitalize() for part in method.split("_"))
