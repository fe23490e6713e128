#!/usr/bin/env bash
# All set-up on a fresh machine (Debian): system packages, the Python virtualenv, the CDK CLI.
# Idempotent: re-running skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# openjdk-17-jre-headless: multi-model-server's frontend (the local SageMaker endpoints).
APT_PACKAGES=(tesseract-ocr tesseract-ocr-eng ffmpeg festival festvox-us-slt-hts chromium openjdk-17-jre-headless)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "==> apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f .venv/.requirements.sha ] || ! sha256sum -c --status .venv/.requirements.sha 2>/dev/null; then
  echo "==> python virtualenv (.venv)"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip wheel
  # torch first: the CPU build (2.13.0+cpu); a resolver that saw plain "torch" would fetch CUDA.
  .venv/bin/pip install -q "$(grep -E '^torch==' requirements.txt)"
  .venv/bin/pip install -q -r requirements.txt
  .venv/bin/pip install -q --no-deps -r requirements-serving.txt
  sha256sum requirements.txt requirements-serving.txt > .venv/.requirements.sha
fi

# --- Airflow virtualenv (.venv-airflow) for tests/dags (issue #6; owner: backfill) ---------------
# Airflow's pinned dependencies clash with the app's, so the DAG tests run real Airflow from its
# own virtualenv. The version is the one MWAA runs (cdk.json pipeline.backfill.airflow_version);
# the constraints file is vendored per version because raw.githubusercontent.com (the official
# constraints) is not reachable from CI.
AIRFLOW_VERSION="$(python3 -c 'import json; print(json.load(open("cdk.json"))["context"]["pipeline"]["backfill"]["airflow_version"])')"
AIRFLOW_CONSTRAINTS="dags/constraints.txt"  # the same file MWAA installs with (see dags/requirements.txt)
if [ ! -f "$AIRFLOW_CONSTRAINTS" ]; then
  echo "no $AIRFLOW_CONSTRAINTS for Airflow $AIRFLOW_VERSION (cdk.json): vendor its constraints first" >&2
  exit 1
fi
if [ ! -f .venv-airflow/.constraints.sha ] || ! sha256sum -c --status .venv-airflow/.constraints.sha 2>/dev/null; then
  echo "==> Airflow $AIRFLOW_VERSION virtualenv (.venv-airflow)"
  rm -rf .venv-airflow
  python3 -m venv .venv-airflow
  .venv-airflow/bin/pip install -q --upgrade pip wheel
  .venv-airflow/bin/pip install -q -c "$AIRFLOW_CONSTRAINTS" "apache-airflow==${AIRFLOW_VERSION}" \
    apache-airflow-providers-amazon apache-airflow-providers-postgres apache-airflow-providers-common-sql pydantic
  sha256sum "$AIRFLOW_CONSTRAINTS" > .venv-airflow/.constraints.sha
fi
# --- end Airflow virtualenv -------------------------------------------------------------------------

# --- checkov virtualenv (.venv-checkov): the independent scanner CI runs on the template ---------
# Its own virtualenv: its pinned dependencies are not the app's. tests/infra/test_checkov.py runs it.
CHECKOV_VERSION="3.3.30"
if [ ! -x .venv-checkov/bin/checkov ] || [ "$(cat .venv-checkov/.version 2>/dev/null)" != "$CHECKOV_VERSION" ]; then
  echo "==> checkov $CHECKOV_VERSION virtualenv (.venv-checkov)"
  rm -rf .venv-checkov
  python3 -m venv .venv-checkov
  .venv-checkov/bin/pip install -q --upgrade pip wheel
  .venv-checkov/bin/pip install -q "checkov==${CHECKOV_VERSION}"
  echo "$CHECKOV_VERSION" > .venv-checkov/.version
fi

if [ ! -x node_modules/.bin/cdk ]; then
  echo "==> AWS CDK CLI (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "==> set-up done"
