# The two commands of the README, and a few more. Each does its own set-up first.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 1
export CDK_DISABLE_VERSION_CHECK := 1
PY := .venv/bin/python

.PHONY: setup run test test-quick test-unit test-integration test-infra lint check synth preflight bench clean

setup:
	@scripts/setup.sh

run: setup            ## the whole pipeline locally on the bundled samples (FILES=path/to/folder for yours)
	$(PY) -m local run $(FILES)

test: setup           ## every test: unit, integration (local stand-ins), infra (synthesized template)
	$(PY) -m pytest tests

test-quick: setup      ## every test that starts no whole pipeline or model server (markers: pytest.ini)
	$(PY) -m pytest tests -m "not slow"
test-unit: setup
	$(PY) -m pytest tests/unit
test-integration: setup
	$(PY) -m pytest tests/integration
test-infra: setup
	$(PY) -m pytest tests/infra

lint: setup           ## ruff (pyproject.toml)
	.venv/bin/ruff check .

check: lint           ## lint, the import layering contracts (import-linter) and the type checker (mypy)
	.venv/bin/lint-imports
	.venv/bin/mypy

synth: setup          ## the CloudFormation template, offline, no Docker
	npx --no-install cdk synth --quiet

preflight: setup      ## before a deploy: the account's SageMaker instance quotas against what cdk.json needs (ARGS="--region eu-west-1")
	$(PY) scripts/check_quotas.py $(ARGS)

bench: setup
	$(PY) bench/models.py

clean:
	rm -rf cdk.out .build .local-run
