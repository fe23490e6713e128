"""The event `python -m local serve` hands the search handler is the one a Lambda function URL
sends (payload format 2.0): pinned to Powertools' model of that documented shape, not only to our
handler's own parse of it."""
from __future__ import annotations

import json

from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel

from functions.search.handler import FunctionUrlEvent
from local.serve import function_url_event


def test_the_local_service_sends_a_function_url_event_as_aws_documents_it():
    body = json.dumps({"query": "pump seals", "limit": 3}).encode()
    event = function_url_event("POST", "/search", "debug=1", {"Content-Type": "application/json", "User-Agent": "t"},
                               body, "127.0.0.1", "127.0.0.1:8000")
    vendor = LambdaFunctionUrlModel.model_validate(event)
    assert vendor.requestContext.http.method == "POST" and vendor.rawPath == "/search"
    assert vendor.body == body.decode() and vendor.isBase64Encoded is False
    assert FunctionUrlEvent.model_validate(event).request().query == "pump seals"


def test_a_binary_body_is_base64_encoded_as_the_service_does():
    event = function_url_event("POST", "/search", "", {}, b"\xff\xfe", "127.0.0.1", "localhost")
    vendor = LambdaFunctionUrlModel.model_validate(event)
    assert vendor.isBase64Encoded is True and vendor.body == "//4="
