#!/usr/bin/env bash
# All set-up on a fresh machine (Debian): system packages, the Python virtualenv, the CDK CLI.
# Idempotent: re-running skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(tesseract-ocr tesseract-ocr-eng ffmpeg festival festvox-us-slt-hts chromium)
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
  sha256sum requirements.txt > .venv/.requirements.sha
fi

if [ ! -x node_modules/.bin/cdk ]; then
  echo "==> AWS CDK CLI (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "==> set-up done"
