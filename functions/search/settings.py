"""The search function's settings and its authorization model, read once per container.

Environment (names in functions/common/constants.py):
* SEARCH_BUCKETS (required): JSON list of the buckets whose objects results may name: the
  pipeline's ingest bucket(s). Rows of any other bucket are never returned.
* SEARCH_ACCESS (optional): JSON {IAM principal ARN pattern: [key prefixes]}. Unset or {}: every
  caller the function URL lets in (IAM: `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction`
  via the URL on this function: the stack's SearchCallerPolicyArn output) may search
  the whole of SEARCH_BUCKETS, so grant that permission only to principals that may read those
  buckets. Set: a caller whose ARN (the function URL's requestContext.authorizer.iam.userArn;
  for a role session `arn:aws:sts::<account>:assumed-role/<role>/<session>`) matches a pattern
  (`*` and `?` wildcards) sees only keys under the prefixes of every pattern it matches, and a
  caller that matches none is refused.
* MODEL_ENDPOINTS: the endpoints that embed the query (functions/common/settings.py reads it).

`from_env(env=None)` (os.environ when None) raises SearchConfigError naming the variable when a
value is missing or unusable (functions/common/settings.py: EnvironmentSettings).
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Optional

from pydantic import Field, field_validator

from functions.common.constants import ENV_SEARCH_ACCESS, ENV_SEARCH_BUCKETS
from functions.common.settings import ConfigurationError, EnvironmentSettings, parse_json
from functions.search.core import Scope


class SearchConfigError(ConfigurationError):
    """A search setting in the environment is missing or malformed."""


class AccessDenied(Exception):
    """The caller may not search (no allow-list entry), or not under the prefix it asked for."""


class SearchSettings(EnvironmentSettings):
    """Which buckets the search function may answer from, and who may see which key prefixes."""

    config_error = SearchConfigError

    buckets: tuple[str, ...] = Field(validation_alias=ENV_SEARCH_BUCKETS)
    access: dict[str, tuple[str, ...]] = Field(default_factory=dict, validation_alias=ENV_SEARCH_ACCESS)

    @field_validator("buckets", mode="before")
    @classmethod
    def _bucket_names(cls, raw: Any) -> Any:
        buckets = parse_json(raw)
        if not isinstance(buckets, (list, tuple)) or not buckets or not all(isinstance(b, str) and b for b in buckets):
            raise ValueError("must be a JSON list of bucket names")
        return buckets

    @field_validator("access", mode="before")
    @classmethod
    def _allow_list(cls, raw: Any) -> Any:
        access = {} if isinstance(raw, str) and not raw.strip() else parse_json(raw)
        if not isinstance(access, dict) or not all(
            isinstance(k, str) and k and isinstance(v, (list, tuple)) and all(isinstance(p, str) for p in v)
            for k, v in access.items()
        ):
            raise ValueError("must be a JSON object {principal ARN pattern: [key prefixes]}")
        return access

    def scope_for(self, principal: Optional[str], key_prefix: Optional[str] = None) -> Scope:
        """What `principal` may read, narrowed to `key_prefix` when asked. Raises AccessDenied."""
        if not self.access:
            prefixes = None
        else:
            matched = [p for pattern, allowed in self.access.items()
                       if principal and fnmatchcase(principal, pattern) for p in allowed]
            if not matched:
                raise AccessDenied(f"{principal or 'an unsigned caller'} is not on the search allow-list")
            prefixes = tuple(dict.fromkeys(matched))
        if key_prefix is not None and prefixes is not None:
            if not any(key_prefix.startswith(p) for p in prefixes):
                # narrower than an allowed prefix is fine; anything else would widen the scope
                raise AccessDenied(f"{principal} may not search under {key_prefix!r}")
        return Scope(buckets=self.buckets, key_prefixes=prefixes)
