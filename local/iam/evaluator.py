"""AWS policy evaluation for one request: identity policies, one resource (or key, or trust) policy,
explicit deny first, then the allows, with the Condition element evaluated as IAM does.

Implements, for requests within one account (and a plain cross-account rule):
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- an explicit Deny in any policy wins;
- within one account, an Allow in an identity policy OR in the resource policy (for a Principal
  that names the caller itself) allows;
- KMS key policies and IAM role trust policies (``key_policy=True``) must allow themselves: either
  naming the caller directly, or naming its account root, which delegates to IAM, so the identity
  policies must allow too (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html);
- cross-account (caller's account differs from the resource's): the identity policies AND the
  resource policy must both allow
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html);
- service principals (``states.amazonaws.com``) have no identity policy: only a resource or key
  policy statement naming the service (or ``*``) allows them.

Statement elements: Action/NotAction, Resource/NotResource (absent = every resource, as in trust
policies), Principal/NotPrincipal (``*``, ``{"AWS": arn|account|[...]}``, ``{"Service": ...}``),
single values or lists everywhere. Condition: String*, Arn*, Numeric*, Date*, Bool, BinaryEquals,
IpAddress/NotIpAddress, Null, the ``...IfExists`` suffix and the ``ForAllValues:``/``ForAnyValue:``
prefixes; policy variables (``${aws:username}``, ``${key, 'default'}``, ``${*}``) in Resource and in
String/Arn/Bool conditions of ``"Version": "2012-10-17"`` documents.

Not covered: permissions boundaries, SCPs, session policies, Federated/CanonicalUser principals,
``aws:`` keys AWS would add that the caller does not pass (beyond the principal keys added here).
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Optional

__all__ = ["Decision", "Matched", "Request", "arn_like", "conditions_hold", "evaluate"]

POLICY_VERSION = "2012-10-17"  # the only version with policy variables
_ACCOUNT = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Request:
    """One AWS call to authorise.

    principal: a role or user ARN (``arn:aws:iam::123456789012:role/Name``), an assumed-role session
      ARN, an account root (``arn:aws:iam::123456789012:root`` or ``123456789012``), or a service
      principal (``states.amazonaws.com``).
    action: ``service:Operation``; matched case-insensitively, as IAM does.
    resource: an ARN, or ``*`` for actions without resource-level permissions.
    context: condition keys (case-insensitive) -> str | list[str] | bool | int.
    """

    principal: str
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Matched:
    """A statement that took part in a decision: its policy's label, its Sid (or ``#index``)."""

    policy: str
    sid: str
    effect: str
    statement: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Decision:
    """The verdict; ``reason`` says which statement decided (or that none allows)."""

    allowed: bool
    reason: str
    matched: tuple[Matched, ...] = ()


# --------------------------------------------------------------------------- the decision


def evaluate(request: Request, identity_policies: Sequence[tuple[str, Mapping[str, Any]]],
             resource_policy: Optional[tuple[str, Mapping[str, Any]]] = None, *,
             key_policy: bool = False, resource_account: Optional[str] = None,
             kind: Optional[str] = None) -> Decision:
    """Decide `request` against the caller's `identity_policies` ((label, document) pairs) and the
    resource's `resource_policy` (label, document), if any.

    key_policy: the resource policy is a KMS key policy (or a role trust policy): it must allow by
      itself, or delegate to IAM by allowing the caller's account root.
    resource_account: the account owning the resource; defaults to the ARN's account field, and
      to the caller's account where the ARN has none (S3).
    kind: what to call the resource policy in reasons (default "key policy"/"resource policy").

    Returns a Decision. Raises ValueError on a condition operator IAM does not define.
    """
    caller = _Caller.parse(request.principal)
    context = _context(request, caller)
    action = request.action.lower()

    denies: list[Matched] = []
    identity_allows: list[Matched] = []
    if caller.service is None:  # services have no identity policies
        for label, document in identity_policies:
            for matched in _applicable(label, document, action, request.resource, context):
                (denies if matched.effect == "Deny" else identity_allows).append(matched)

    direct: list[Matched] = []  # allows naming the caller itself (or "*", or its service)
    delegated: list[Matched] = []  # allows naming the caller's account root
    if resource_policy is not None:
        label, document = resource_policy
        for matched in _applicable(label, document, action, request.resource, context):
            how = _principal_match(matched.statement, caller)
            if how is None:
                continue
            if matched.effect == "Deny":
                denies.append(matched)
            else:
                (direct if how == _DIRECT else delegated).append(matched)

    if denies:
        first = denies[0]
        return Decision(False, f"explicit deny in {first.policy} statement {first.sid}", tuple(denies))

    kind = kind or ("key policy" if key_policy else "resource policy")
    owner = resource_account or _arn_account(request.resource) or caller.account
    if caller.service is not None:
        if direct:
            return _allow(f"allowed by {kind}", direct)
        return Decision(False, f"no statement allows {request.action} on {request.resource}: "
                               f"a service principal needs a {kind} statement naming it")

    if caller.account != owner:
        # Cross-account: both sides must allow.
        if not identity_allows:
            return Decision(False, f"cross-account: no identity policy allows {request.action}")
        if not (direct or delegated):
            return Decision(False, f"cross-account: the {kind} of account {owner} does not allow "
                                   f"{request.action} for {request.principal}")
        return _allow("allowed cross-account by identity policy", identity_allows + direct + delegated)

    if key_policy:
        if direct:
            return _allow(f"allowed by {kind}", direct)
        if delegated:
            if identity_allows:
                return _allow("allowed by identity policy", identity_allows + delegated,
                              f" (the {kind} delegates to IAM)")
            return Decision(False, f"the {kind} {resource_policy[0]} delegates {request.action} to IAM "
                                   f"policies, and no identity policy allows it", tuple(delegated))
        if resource_policy is None:
            return Decision(False, f"no {kind} for {request.resource}")
        return Decision(False, f"the {kind} {resource_policy[0]} neither names {request.principal} nor "
                               f"its account for {request.action}")

    if identity_allows:
        return _allow("allowed by identity policy", identity_allows)
    if direct:
        return _allow(f"allowed by {kind}", direct)
    return Decision(False, f"no statement allows {request.action} on {request.resource}")


def _allow(prefix: str, matched: list[Matched], suffix: str = "") -> Decision:
    first = matched[0]
    return Decision(True, f"{prefix} {first.policy} statement {first.sid}{suffix}", tuple(matched))


def _applicable(label: str, document: Mapping[str, Any], action: str, resource: str,
                context: Mapping[str, Any]) -> Iterable[Matched]:
    """The statements of `document` whose action, resource and condition match (not Principal)."""
    variables = document.get("Version") == POLICY_VERSION
    for index, statement in enumerate(_as_list(document.get("Statement", []))):
        if not _action_matches(statement, action):
            continue
        if not _resource_matches(statement, resource, context, variables):
            continue
        if not conditions_hold(statement.get("Condition", {}), context, variables=variables):
            continue
        yield Matched(label, str(statement.get("Sid") or f"#{index}"), statement.get("Effect", "Deny"), statement)


# --------------------------------------------------------------------------- principals

_DIRECT, _ACCOUNT_ROOT = "direct", "account"


@dataclass(frozen=True)
class _Caller:
    arn: str
    account: Optional[str]
    service: Optional[str] = None
    role_name: Optional[str] = None  # for roles and their sessions: matched by account and name
    root: bool = False

    @classmethod
    def parse(cls, principal: str) -> _Caller:
        if _ACCOUNT.match(principal):
            return cls(f"arn:aws:iam::{principal}:root", principal, root=True)
        if not principal.startswith("arn:"):
            return cls(principal, None, service=principal.lower())
        parts = principal.split(":", 5)
        account = parts[4] if len(parts) == 6 else None
        resource = parts[5] if len(parts) == 6 else ""
        if resource == "root":
            return cls(principal, account, root=True)
        if parts[2] == "iam" and resource.startswith("role/"):
            return cls(principal, account, role_name=resource.rsplit("/", 1)[-1])
        if parts[2] == "sts" and resource.startswith("assumed-role/"):
            return cls(principal, account, role_name=resource.split("/")[1])
        return cls(principal, account)

    def principal_arn(self) -> str:
        """aws:PrincipalArn: a session's role ARN (path unknown here), else the ARN itself."""
        if self.arn.split(":")[2:3] == ["sts"] and self.role_name:
            partition = self.arn.split(":")[1]
            return f"arn:{partition}:iam::{self.account}:role/{self.role_name}"
        return self.arn


def _principal_match(statement: Mapping[str, Any], caller: _Caller) -> Optional[str]:
    """How a resource-policy statement's Principal (or NotPrincipal) names `caller`: _DIRECT, via
    its account root (_ACCOUNT_ROOT), or not at all (None)."""
    if "NotPrincipal" in statement:
        # Everyone but the listed principals; a listed account excludes its principals too.
        return None if _names(statement["NotPrincipal"], caller) else _DIRECT
    if "Principal" not in statement:
        return None  # a resource-policy statement without Principal names no one
    return _names(statement["Principal"], caller)


def _names(principal: Any, caller: _Caller) -> Optional[str]:
    if principal == "*":
        return _DIRECT
    if not isinstance(principal, Mapping):
        return None
    best: Optional[str] = None
    for value in _as_list(principal.get("Service", [])):
        if caller.service is not None and str(value).lower() == caller.service:
            return _DIRECT
    for value in _as_list(principal.get("AWS", [])):
        value = str(value)
        if value == "*":
            return _DIRECT
        account = value if _ACCOUNT.match(value) else None
        if account is None and value.startswith("arn:") and value.endswith(":root"):
            account = _arn_account(value)
        if account is not None:
            if caller.account == account:
                if caller.root:
                    return _DIRECT
                best = _ACCOUNT_ROOT
            continue
        if value == caller.arn:
            return _DIRECT
        parts = value.split(":", 5)
        # A role ARN in a policy names the role and its sessions; compare account and name (the
        # policy may carry the role's path, a session ARN does not).
        if (caller.role_name and len(parts) == 6 and parts[2] == "iam" and parts[5].startswith("role/")
                and parts[4] == caller.account and parts[5].rsplit("/", 1)[-1] == caller.role_name):
            return _DIRECT
    return best


def _context(request: Request, caller: _Caller) -> dict[str, Any]:
    """The request context with lower-cased keys, plus the principal keys AWS always adds
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn)."""
    context = {str(key).lower(): value for key, value in request.context.items()}
    if caller.service is not None:
        context.setdefault("aws:principalservicename", caller.service)
    else:
        context.setdefault("aws:principalarn", caller.principal_arn())
        if caller.account:
            context.setdefault("aws:principalaccount", caller.account)
    return context


def _arn_account(arn: str) -> Optional[str]:
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 and _ACCOUNT.match(parts[4]) else None


# --------------------------------------------------------------------------- action, resource


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_glob(str(p).lower()).fullmatch(action) for p in _as_list(statement["NotAction"]))
    return any(_glob(str(p).lower()).fullmatch(action) for p in _as_list(statement.get("Action", [])))


def _resource_matches(statement: Mapping[str, Any], resource: str, context: Mapping[str, Any],
                      variables: bool) -> bool:
    if "NotResource" in statement:
        return not any(arn_like(str(p), resource, context, variables) for p in _as_list(statement["NotResource"]))
    if "Resource" not in statement:
        return True  # trust policies and some resource policies name no Resource: the policy's own
    return any(arn_like(str(p), resource, context, variables) for p in _as_list(statement["Resource"]))


def arn_like(pattern: str, value: str, context: Mapping[str, Any] = {}, variables: bool = False) -> bool:
    """IAM ARN matching (Resource element, ArnLike/ArnEquals): each of the six colon-separated
    components is matched on its own, wildcards never cross the first five colons; the last
    component (the resource id) may itself contain colons, which ``*`` does cross.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN
    """
    if pattern == "*":
        return True
    patterns, values = _split_arn(pattern), value.split(":", 5)
    if len(patterns) != 6 or len(values) != 6:
        compiled = _compile(pattern, context, variables)
        return compiled is not None and compiled.fullmatch(value) is not None
    for part, actual in zip(patterns, values):
        compiled = _compile(part, context, variables)
        if compiled is None or compiled.fullmatch(actual) is None:
            return False
    return True


def _split_arn(pattern: str) -> list[str]:
    """Split on the first five colons that are not inside a ``${...}`` policy variable."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(pattern):
        if char == "{" and pattern[index - 1:index] == "$":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == ":" and not depth and len(parts) < 5:
            parts.append(pattern[start:index])
            start = index + 1
    parts.append(pattern[start:])
    return parts


# --------------------------------------------------------------------------- patterns, variables

_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@lru_cache(maxsize=4096)
def _glob(pattern: str, wildcards: bool = True, ignore_case: bool = False) -> re.Pattern[str]:
    out = []
    for char in pattern:
        if wildcards and char == "*":
            out.append(".*")
        elif wildcards and char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _compile(pattern: str, context: Mapping[str, Any], variables: bool, *, wildcards: bool = True,
             ignore_case: bool = False) -> Optional[re.Pattern[str]]:
    """`pattern` as a regex; policy variables replaced by their (literal) values. None when a
    variable has no value and no default: the pattern then matches nothing.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html"""
    if not variables or "${" not in pattern:
        return _glob(pattern, wildcards, ignore_case)
    out, position = [], 0
    for found in _VARIABLE.finditer(pattern):
        out.append(_glob(pattern[position:found.start()], wildcards).pattern)
        value = _variable(found.group(1), context)
        if value is None:
            return None
        out.append(re.escape(value))
        position = found.end()
    out.append(_glob(pattern[position:], wildcards).pattern)
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _variable(body: str, context: Mapping[str, Any]) -> Optional[str]:
    if body in ("*", "?", "$"):
        return body  # ${*} is a literal asterisk
    name, _, default = body.partition(",")
    value = context.get(name.strip().lower())
    if value is None or isinstance(value, (list, tuple)):  # multivalued keys are not variables
        default = default.strip()
        return default[1:-1] if len(default) >= 2 and default[0] == default[-1] == "'" else None
    return _text(value)


# --------------------------------------------------------------------------- conditions

_NEGATED = {
    "stringnotequals": "stringequals", "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike", "arnnotequals": "arnequals", "arnnotlike": "arnlike",
    "numericnotequals": "numericequals", "datenotequals": "dateequals", "notipaddress": "ipaddress",
}
_WITH_VARIABLES = {"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike", "bool"}


def conditions_hold(block: Mapping[str, Any], context: Mapping[str, Any], *, variables: bool = True) -> bool:
    """Whether a statement's Condition block holds for `context` (keys lower-cased): operators
    AND'ed, keys within an operator AND'ed, values of a key OR'ed (NOR for negated operators).
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
    Raises ValueError on an operator IAM does not define."""
    lowered = {str(k).lower(): v for k, v in context.items()}
    for operator, keys in block.items():
        for key, values in keys.items():
            if not _condition(operator, str(key).lower(), [_text(v) for v in _as_list(values)], lowered, variables):
                return False
    return True


def _condition(operator: str, key: str, policy_values: list[str], context: Mapping[str, Any],
               variables: bool) -> bool:
    qualifier, _, name = operator.rpartition(":")
    qualifier, name = qualifier.lower(), name.lower()
    if qualifier not in ("", "forallvalues", "foranyvalue"):
        raise ValueError(f"unknown condition set operator {operator!r}")
    if_exists = name.endswith("ifexists") and name != "null"
    base = name[: -len("ifexists")] if if_exists else name
    raw = context.get(key)
    present = raw is not None and raw != [] and raw != ()
    request_values = [_text(v) for v in _as_list(raw)]

    if base == "null":
        # "true": the key must be absent; "false": present.
        return any((value.lower() == "true") != present for value in policy_values)
    negated = base in _NEGATED
    positive = _NEGATED.get(base, base)
    if positive not in _MATCHERS:
        raise ValueError(f"unknown condition operator {operator!r}")

    if not present:
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html:
        # a missing key makes the condition false, true for negated operators; ...IfExists is
        # true; ForAllValues over an empty set is true, ForAnyValue false.
        if if_exists or qualifier == "forallvalues":
            return True
        if qualifier == "foranyvalue":
            return False
        return negated
    if qualifier and request_values == [""]:
        # An empty string is an empty data set for the set operators
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
        return qualifier == "forallvalues"

    use_variables = variables and positive in _WITH_VARIABLES
    matcher = _MATCHERS[positive]

    def matches(value: str) -> bool:
        return any(matcher(p, value, context, use_variables) for p in policy_values)

    if qualifier == "forallvalues":
        return all(matches(v) != negated for v in request_values)
    if qualifier == "foranyvalue":
        return any(matches(v) != negated for v in request_values)
    hit = any(matches(v) for v in request_values)
    return not hit if negated else hit


def _string_equals(p: str, v: str, context: Mapping[str, Any], variables: bool) -> bool:
    compiled = _compile(p, context, variables, wildcards=False)
    return compiled is not None and compiled.fullmatch(v) is not None


def _string_equals_ignore_case(p: str, v: str, context: Mapping[str, Any], variables: bool) -> bool:
    compiled = _compile(p, context, variables, wildcards=False, ignore_case=True)
    return compiled is not None and compiled.fullmatch(v) is not None


def _string_like(p: str, v: str, context: Mapping[str, Any], variables: bool) -> bool:
    compiled = _compile(p, context, variables)
    return compiled is not None and compiled.fullmatch(v) is not None


def _arn(p: str, v: str, context: Mapping[str, Any], variables: bool) -> bool:
    return arn_like(p, v, context, variables)


def _bool(p: str, v: str, context: Mapping[str, Any], variables: bool) -> bool:
    compiled = _compile(p, context, variables, wildcards=False, ignore_case=True)
    return compiled is not None and compiled.fullmatch(v) is not None


def _binary(p: str, v: str, context: Mapping[str, Any], variables: bool) -> bool:
    return p == v


def _numeric(compare):
    def matcher(p: str, v: str, context: Mapping[str, Any], variables: bool) -> bool:
        try:
            return compare(float(v), float(p))
        except ValueError:
            return False
    return matcher


def _date(compare):
    def matcher(p: str, v: str, context: Mapping[str, Any], variables: bool) -> bool:
        left, right = _parse_date(v), _parse_date(p)
        return left is not None and right is not None and compare(left, right)
    return matcher


def _ip(p: str, v: str, context: Mapping[str, Any], variables: bool) -> bool:
    try:
        return ipaddress.ip_address(v.split("/")[0]) in ipaddress.ip_network(p, strict=False)
    except ValueError:
        return False


_MATCHERS = {
    "stringequals": _string_equals,
    "stringequalsignorecase": _string_equals_ignore_case,
    "stringlike": _string_like,
    "arnequals": _arn,  # ArnEquals and ArnLike behave identically (IAM condition operators doc)
    "arnlike": _arn,
    "bool": _bool,
    "binaryequals": _binary,
    "ipaddress": _ip,
    "numericequals": _numeric(lambda a, b: a == b),
    "numericlessthan": _numeric(lambda a, b: a < b),
    "numericlessthanequals": _numeric(lambda a, b: a <= b),
    "numericgreaterthan": _numeric(lambda a, b: a > b),
    "numericgreaterthanequals": _numeric(lambda a, b: a >= b),
    "dateequals": _date(lambda a, b: a == b),
    "datelessthan": _date(lambda a, b: a < b),
    "datelessthanequals": _date(lambda a, b: a <= b),
    "dategreaterthan": _date(lambda a, b: a > b),
    "dategreaterthanequals": _date(lambda a, b: a >= b),
}


def _parse_date(text: str) -> Optional[float]:
    """ISO 8601 (W3C profile) or epoch seconds -> epoch seconds; naive times are UTC."""
    text = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


# --------------------------------------------------------------------------- helpers


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
