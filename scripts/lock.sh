#!/usr/bin/env bash
# Regenerates requirements.lock: every package of `.[dev]` (the agent, the server, the
# test and build tools) pinned with its hashes, for Linux and the Python that runs this.
# `make` installs from it with --require-hashes (docs/reproducible-builds.md).
# Usage: bash scripts/lock.sh            (needs PyPI; pip-tools goes in a throw-away venv)
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/pip" install --quiet "pip-tools>=7.4,<8"
"$tools/bin/pip-compile" --quiet --generate-hashes --extra dev --strip-extras --allow-unsafe \
  --no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml
# The project itself (its dev extra names kiosk-agent[server]) is installed from the tree,
# not from the lock: drop its self-reference and pip-compile's warning about it.
python3 - <<'PY'
import re
from pathlib import Path

path = Path("requirements.lock")
text = path.read_text()
text = re.sub(r"# WARNING: pip install will require.*\n# Consider using.*\n", "", text)
text = re.sub(r"kiosk-agent @ file://\S+\n(    #.*\n)*", "", text)
path.write_text(text)
PY
echo "requirements.lock: $(grep -c '==' requirements.lock) packages"
