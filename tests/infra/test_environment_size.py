"""Lambda's 4 KB environment limit is checked at synth (cdk_app/house/environment_size.py):
the default app's functions fit, a `search` allow-list too long for it fails synth by name,
and the estimate is the compact JSON of the variables."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdk_app.house import environment_size as es

ROOT = Path(__file__).resolve().parents[2]


def _functions(template_json: dict) -> dict[str, dict]:
    return {name: r["Properties"].get("Environment", {}).get("Variables", {})
            for name, r in template_json["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}


def test_a_literal_environment_is_counted_as_its_compact_json():
    variables = {"A": "1", "MODEL_ENDPOINTS": json.dumps({"text_embedding": "ep-1"}), "UNICODE": "é€"}
    assert es.environment_bytes(variables) == len(json.dumps(variables, separators=(",", ":"),
                                                             ensure_ascii=False).encode("utf-8"))
    assert es.environment_bytes({}) == 0


def test_references_are_counted_at_their_deployed_length():
    arn = {"Fn::GetAtt": ["Endpoint", "Arn"]}
    joined = {"Fn::Join": [",", ["arn:aws:s3:::", {"Ref": "Bucket"}, "/*"]]}
    assert es.estimated_bytes(arn) == es.TOKEN_BYTES["Fn::GetAtt"]
    assert es.estimated_bytes({"Ref": "AWS::Region"}) == es.PSEUDO_BYTES["AWS::Region"]
    assert es.estimated_bytes(joined) == len("arn:aws:s3:::") + es.TOKEN_BYTES["Ref"] + len("/*") + 2


def test_every_function_of_the_default_app_fits_with_the_margin(template_json):
    sizes = {name: es.environment_bytes(variables) for name, variables in _functions(template_json).items()}
    print(dict(sorted(sizes.items(), key=lambda kv: -kv[1])))
    assert any(size > 1000 for size in sizes.values())  # the pipeline steps carry the model maps
    assert all(size <= es.LIMIT_BYTES - es.MARGIN_BYTES for size in sizes.values()), sizes


def test_check_names_the_largest_variables():
    variables = {"SEARCH_ACCESS": "x" * 3900, "DB_HOST": "proxy"}
    with pytest.raises(es.EnvironmentTooLarge, match=r"about 3,9\d\d bytes .*largest: SEARCH_ACCESS 3,900 bytes"):
        es.check(variables)
    assert es.check({"DB_HOST": "proxy"}) == len('{"DB_HOST":"proxy"}')


def test_synth_refuses_a_search_allow_list_over_the_limit(tmp_path):
    import aws_cdk as cdk

    from app import build_app

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["search"] = {"access": {f"arn:aws:sts::111122223333:assumed-role/Analyst{i:03}/*": [f"reports/team-{i:03}/"]
                                    for i in range(40)}}
    app, _ = build_app(cdk.App(context=context, outdir=str(tmp_path)))
    with pytest.raises(Exception, match=r"(?s)Search/Search/Function.*largest: SEARCH_ACCESS 3,\d{3} bytes"):
        app.synth()


def test_the_limit_is_the_one_cfn_lint_enforces_and_the_estimate_is_never_below_its_count():
    # cfn-lint's own rule (E3697, AWS's linter, run over the template by test_security) counts
    # keys and literal values only; ours adds JSON punctuation and references, so it refuses first.
    from cfnlint.jsonschema import CfnTemplateValidator
    from cfnlint.rules.resources.lmbd.FunctionEnvironmentSize import FunctionEnvironmentSize

    rule, validator = FunctionEnvironmentSize(), CfnTemplateValidator({})
    at_limit = {"SEARCH_ACCESS": "x" * (es.LIMIT_BYTES - len("SEARCH_ACCESS"))}
    over = {"SEARCH_ACCESS": at_limit["SEARCH_ACCESS"] + "x"}
    assert list(rule.validate(validator, None, at_limit, {})) == []
    assert [e.message for e in rule.validate(validator, None, over, {})] != []
    assert es.environment_bytes(over) > es.environment_bytes(at_limit) > es.LIMIT_BYTES - es.MARGIN_BYTES
    with pytest.raises(es.EnvironmentTooLarge):
        es.check(at_limit)
