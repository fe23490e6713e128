"""The Lambda context for handlers called directly: local.lambda_dispatch's, named for tests."""
from __future__ import annotations

from functools import partial

from local.lambda_dispatch import FakeLambdaContext as _LocalContext

FakeLambdaContext = partial(_LocalContext, "test-fn")
