"""A WSGI gateway in front of moto's server that says no where AWS would: it reads who signed
each request and what it asks for (local/iam/wire.py), lets the `Authorizer` decide, and answers
a denied request with the service's own AccessDenied error, in the service's protocol, before
moto sees it. Requests of services the pipeline's roles never call pass through unchecked.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any, Optional
from xml.sax.saxutils import escape

from local.iam.authorizer import AccessDenied, Authorizer
from local.iam.wire import Call, lambda_calls, s3_calls, signer, stepfunctions_calls

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def _service(environ: dict) -> str:
    """The signing name in the SigV4 credential scope (s3, states, lambda, ...)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        return scope[3]
    except IndexError:
        return ""


def _headers(environ: dict) -> dict[str, str]:
    headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
    headers["Authorization"] = environ.get("HTTP_AUTHORIZATION", "")
    return headers


class AuthorizingGateway:
    """`AuthorizingGateway(moto_app, authorizer)` is itself a WSGI application."""

    def __init__(self, app: WsgiApp, authorizer: Optional[Authorizer], region: str, account: str) -> None:
        self.app, self.authorizer, self.region, self.account = app, authorizer, region, account

    def calls(self, environ: dict, body: bytes) -> tuple[str, list[Call]]:
        service = _service(environ)
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        if service == "s3":
            return service, s3_calls(method, path, environ.get("QUERY_STRING", ""), _headers(environ))
        if service == "states":
            return service, stepfunctions_calls(environ.get("HTTP_X_AMZ_TARGET", ""), body)
        if service == "lambda":
            return service, lambda_calls(method, path, self.region, self.account)
        return service, []

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.authorizer is None:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        stream = environ["wsgi.input"]
        body = stream.read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        service, calls = self.calls(environ, body)
        key = signer({"Authorization": environ.get("HTTP_AUTHORIZATION", "")})
        if service == "s3" and calls and not _bucket_exists(calls[-1].resource, self.account):
            # S3 answers NoSuchBucket before it evaluates any policy (the bucket namespace is
            # global: HeadBucket tells 404 from 403), so a missing bucket is moto's to answer.
            return self.app(environ, start_response)
        if calls:
            try:
                self.authorizer.check(key, calls)
            except AccessDenied as denied:
                return _denied(service, denied, start_response)
        reads = [c for c in calls if service == "s3" and c.action in ("s3:GetObject", "s3:GetObjectVersion")]
        if not reads:
            return self.app(environ, start_response)
        return self._read(environ, start_response, key, reads[0])

    def _read(self, environ: dict, start_response: Callable, key: str | None, read: Call) -> Iterable[bytes]:
        """S3 answers a read of a missing key 404 only to a caller allowed s3:ListBucket on the
        bucket; anyone else gets 403, so that absence cannot be probed
        (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions")."""
        captured: list = []

        def capture(status: str, headers: list, exc_info=None):
            captured[:] = [status, headers, exc_info]
            return lambda data: None  # the legacy write() callable; moto returns its body instead

        body = list(self.app(environ, capture))
        status, headers, exc_info = captured
        if status.startswith("404"):
            bucket = read.resource.split(":::", 1)[1].split("/", 1)[0]
            try:
                self.authorizer.check(key, [Call("s3:ListBucket", f"arn:aws:s3:::{bucket}")])
            except AccessDenied as denied:
                return _denied("s3", denied, start_response)
        start_response(status, headers, exc_info)
        return body


def _bucket_exists(resource: str, account: str) -> bool:
    """Whether the bucket of an S3 ARN exists in moto (which holds every bucket of the run)."""
    if not resource.startswith("arn:aws:s3:::"):
        return True
    from moto.s3.models import s3_backends

    bucket = resource[len("arn:aws:s3:::"):].split("/", 1)[0]
    return bucket in s3_backends.bucket_accounts  # moto's global bucket namespace


def _denied(service: str, denied: AccessDenied, start_response: Callable) -> list[bytes]:
    """AccessDenied as each protocol returns it (S3: XML; JSON protocols: __type + message)."""
    message = str(denied)
    if service == "s3":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                f"<Message>{escape(message)}</Message></Error>").encode()
        start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
        return [body]
    kind = "AccessDeniedException"
    if service == "lambda":
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", kind)]
    else:
        headers = [("Content-Type", "application/x-amz-json-1.0")]
    body = json.dumps({"__type": kind, "message": message, "Message": message}).encode()
    start_response("403 Forbidden" if service != "states" else "400 Bad Request",
                   headers + [("Content-Length", str(len(body)))])
    return [body]


def serve(app: Any, host: str, port: int):
    """A threaded werkzeug server for `app` (as moto's ThreadedMotoServer makes one)."""
    from werkzeug.serving import make_server

    return make_server(host, port, app, threaded=True)
