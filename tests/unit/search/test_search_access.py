"""The search function's authorization model (functions/search/settings.py) and its request
handling before any database or model call (functions/search/handler.py)."""
from __future__ import annotations

import json

import pytest

from functions.common import constants as c
from functions.search.settings import AccessDenied, SearchConfigError, SearchSettings

ANALYST = "arn:aws:sts::111122223333:assumed-role/Analyst/alice"
ACCESS = {"arn:aws:sts::111122223333:assumed-role/Analyst/*": ["reports/", "shared/"],
          "arn:aws:iam::111122223333:user/ops": [""]}


def _settings(access=None) -> SearchSettings:
    env = {c.ENV_SEARCH_BUCKETS: json.dumps(["ingest"])}
    if access is not None:
        env[c.ENV_SEARCH_ACCESS] = json.dumps(access)
    return SearchSettings.from_env(env)


def test_without_an_allow_list_every_caller_searches_the_ingest_buckets_only():
    scope = _settings().scope_for(ANALYST)
    assert scope.buckets == ("ingest",) and scope.key_prefixes is None


def test_an_allowed_caller_is_limited_to_its_prefixes():
    assert _settings(ACCESS).scope_for(ANALYST).key_prefixes == ("reports/", "shared/")


def test_a_caller_on_no_entry_is_refused():
    with pytest.raises(AccessDenied):
        _settings(ACCESS).scope_for("arn:aws:sts::111122223333:assumed-role/Intern/bob")
    with pytest.raises(AccessDenied):
        _settings(ACCESS).scope_for(None)


def test_a_caller_may_narrow_its_scope_but_not_widen_it():
    settings = _settings(ACCESS)
    assert settings.scope_for(ANALYST, "reports/2026/").key_prefixes == ("reports/", "shared/")
    with pytest.raises(AccessDenied):
        settings.scope_for(ANALYST, "payroll/")


@pytest.mark.parametrize("env", [{}, {c.ENV_SEARCH_BUCKETS: "ingest"}, {c.ENV_SEARCH_BUCKETS: "[]"},
                                 {c.ENV_SEARCH_BUCKETS: '["b"]', c.ENV_SEARCH_ACCESS: '["x"]'},
                                 {c.ENV_SEARCH_BUCKETS: '["b"]', c.ENV_SEARCH_ACCESS: '{"arn": "prefix/"}'}])
def test_unusable_settings_name_the_variable(env):
    with pytest.raises(SearchConfigError, match="SEARCH_"):
        SearchSettings.from_env(env)


def _url_event(body, principal=ANALYST):
    return {"version": "2.0", "rawPath": "/", "body": json.dumps(body), "isBase64Encoded": False,
            "requestContext": {"http": {"method": "POST"}, "authorizer": {"iam": {
                "accessKey": "AKIA", "accountId": "111122223333", "callerId": "AROA:alice", "userArn": principal,
                "userId": "AROA:alice"}}}}


@pytest.fixture
def handler(monkeypatch):
    import functions.search.handler as module

    monkeypatch.setenv(c.ENV_SEARCH_BUCKETS, json.dumps(["ingest"]))
    monkeypatch.setenv(c.ENV_SEARCH_ACCESS, json.dumps(ACCESS))
    monkeypatch.setenv(c.ENV_MODEL_ENDPOINTS, "{}")
    monkeypatch.setenv(c.ENV_DB_HOST, "127.0.0.1")
    monkeypatch.setenv(c.ENV_DB_PORT, "9")  # nothing listens: a database call would fail the test
    monkeypatch.setenv(c.ENV_DB_AUTH, "password")
    module.backends.clear()
    yield module
    module.backends.clear()


@pytest.mark.parametrize("body", [{}, {"query": ""}, {"query": "x", "limit": 0}, {"query": "x", "sort": "date"},
                                  {"query": "x", "filters": {"modalities": ["sculpture"]}},
                                  {"query": "x", "filters": {"time_from": 30, "time_to": 10}}])
def test_an_invalid_request_is_a_400_before_any_call(handler, body):
    from local.lambda_dispatch import FakeLambdaContext

    response = handler.lambda_handler(_url_event(body), FakeLambdaContext("search"))
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"] == "invalid request"


def test_a_prefix_outside_the_callers_allow_list_is_a_403_before_any_call(handler):
    from local.lambda_dispatch import FakeLambdaContext

    response = handler.lambda_handler(_url_event({"query": "salaries", "filters": {"key_prefix": "payroll/"}}),
                                      FakeLambdaContext("search"))
    assert response["statusCode"] == 403
    stranger = handler.lambda_handler(_url_event({"query": "x"}, "arn:aws:iam::999999999999:user/mallory"),
                                      FakeLambdaContext("search"))
    assert stranger["statusCode"] == 403
