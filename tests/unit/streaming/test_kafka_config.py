"""Kafka client settings for MSK IAM and the local broker."""
from __future__ import annotations

import pytest

from functions.streaming.kafka_config import MSKTokenProvider, client_config, producer_config


def test_iam_uses_sasl_ssl_oauthbearer_with_the_msk_signer():
    config = client_config("b-1:9098,b-2:9098", auth="iam", region="eu-west-1", env={})
    assert config["bootstrap_servers"] == ["b-1:9098", "b-2:9098"]
    assert config["security_protocol"] == "SASL_SSL" and config["sasl_mechanism"] == "OAUTHBEARER"
    assert isinstance(config["sasl_oauth_token_provider"], MSKTokenProvider)


def test_token_provider_signs_with_the_region(monkeypatch):
    calls = []

    def fake(region):
        calls.append(region)
        return "tok", 900000

    monkeypatch.setattr("aws_msk_iam_sasl_signer.MSKAuthTokenProvider.generate_auth_token", fake)
    assert MSKTokenProvider("eu-west-1").token() == "tok" and calls == ["eu-west-1"]


def test_local_broker_is_plaintext_with_a_pinned_protocol_version():
    config = client_config(env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092", "KAFKA_AUTH": "none", "KAFKA_API_VERSION": "2.3"})
    assert config == {"bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "PLAINTEXT", "api_version": (2, 3)}


def test_producer_is_idempotent_with_acks_all():
    config = producer_config(bootstrap_servers="x:1", auth="none", env={})
    assert config["acks"] == "all" and config["enable_idempotence"] is True
    assert config["max_in_flight_requests_per_connection"] <= 5 and config["linger_ms"] > 0


@pytest.mark.parametrize("env", [{}, {"KAFKA_BOOTSTRAP_SERVERS": "x:1", "KAFKA_AUTH": "scram"}])
def test_bad_settings_fail_clearly(env):
    with pytest.raises(ValueError):
        client_config(env=env)
