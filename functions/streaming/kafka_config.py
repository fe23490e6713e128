"""kafka-python client settings for MSK Serverless (IAM) and the local broker, and the producer.

MSK Serverless only accepts IAM access control: SASL/OAUTHBEARER over TLS on port 9098,
with a token signed by aws-msk-iam-sasl-signer-python.
https://docs.aws.amazon.com/msk/latest/developerguide/iam-access-control.html#iam-access-control-use-with-non-java-clients
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Optional

from functions.common.constants import (
    ENV_KAFKA_API_VERSION,
    ENV_KAFKA_AUTH,
    ENV_KAFKA_BOOTSTRAP,
)

try:  # kafka-python >= 3
    from kafka.net.sasl.oauth import AbstractTokenProvider
except ImportError:  # pragma: no cover - kafka-python 2.x
    from kafka.sasl.oauth import AbstractTokenProvider

AUTH_IAM = "iam"
AUTH_NONE = "none"

# Producer settings for at-least-once delivery with no duplicates from our own retries:
# idempotence needs acks=all and at most 5 requests in flight per connection; a short
# linger batches the bursts S3 sends when many objects land at once.
PRODUCER_SETTINGS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "max_in_flight_requests_per_connection": 5,
    "linger_ms": 20,
    "batch_size": 64 * 1024,
    "compression_type": None,
    # The forwarder's own timeout (cdk_app) is well above this, so a failed publish raises
    # inside the invocation and Lambda's async retry / on-failure destination takes over.
    "delivery_timeout_ms": 60_000,
    "request_timeout_ms": 15_000,
}


class MSKTokenProvider(AbstractTokenProvider):
    """OAUTHBEARER tokens for MSK IAM auth, signed with the function's role (valid 15 min)."""

    def __init__(self, region: str):
        super().__init__()
        self._region = region

    def token(self) -> str:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        token, _expiry_ms = MSKAuthTokenProvider.generate_auth_token(self._region)
        return token


def parse_api_version(raw: Optional[str]) -> Optional[tuple[int, ...]]:
    """'2.3' -> (2, 3); empty -> None (negotiate with the broker)."""
    if not raw or not raw.strip():
        return None
    try:
        return tuple(int(part) for part in raw.strip().split("."))
    except ValueError as exc:
        raise ValueError(f"{ENV_KAFKA_API_VERSION} must look like '2.3', got {raw!r}") from exc


def client_config(
    bootstrap_servers: Optional[str] = None,
    *,
    auth: Optional[str] = None,
    region: Optional[str] = None,
    api_version: Optional[str] = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments shared by KafkaProducer, KafkaConsumer and KafkaAdminClient.

    Unset arguments come from the environment (KAFKA_BOOTSTRAP_SERVERS, KAFKA_AUTH (default
    "iam"), AWS_REGION, KAFKA_API_VERSION). Raises ValueError for an unknown auth mode.
    """
    env = os.environ if env is None else env
    bootstrap = bootstrap_servers or env.get(ENV_KAFKA_BOOTSTRAP, "")
    if not bootstrap:
        raise ValueError(f"{ENV_KAFKA_BOOTSTRAP} is not set")
    mode = (auth or env.get(ENV_KAFKA_AUTH) or AUTH_IAM).lower()
    config: dict[str, Any] = {"bootstrap_servers": bootstrap.split(",")}
    version = parse_api_version(api_version if api_version is not None else env.get(ENV_KAFKA_API_VERSION))
    if version is not None:
        config["api_version"] = version
    if mode == AUTH_IAM:
        region_name = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if not region_name:
            raise ValueError("AWS_REGION is needed to sign MSK IAM tokens")
        config.update(
            security_protocol="SASL_SSL",
            sasl_mechanism="OAUTHBEARER",
            sasl_oauth_token_provider=MSKTokenProvider(region_name),
        )
    elif mode == AUTH_NONE:
        config["security_protocol"] = "PLAINTEXT"
    else:
        raise ValueError(f"{ENV_KAFKA_AUTH} must be '{AUTH_IAM}' or '{AUTH_NONE}', got {mode!r}")
    return config


def producer_config(**kwargs: Any) -> dict[str, Any]:
    """client_config() plus PRODUCER_SETTINGS."""
    return {**client_config(**kwargs), **PRODUCER_SETTINGS}


def create_producer(**kwargs: Any):
    """A KafkaProducer for the forwarder (create once per container, reuse)."""
    from kafka import KafkaProducer

    return KafkaProducer(**producer_config(**kwargs))
