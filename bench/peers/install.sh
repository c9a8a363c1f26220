#!/bin/sh
# Installs the peer gateways the benchmark compares against into this
# bench-only folder (never project dependencies), idempotently:
#   .venv/          LiteLLM proxy from PyPI (requirements.txt, transitive pins in constraints.txt)
#   node_modules/   Portkey's gateway from npm (package.json + package-lock.json, `npm ci`)
# Both folders are gitignored. Prints how long each install took when it ran.
set -eu
cd "$(dirname "$0")"

want_litellm=$(sed -n 's/^litellm\[proxy\]==//p' requirements.txt)
have_litellm=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || true)
if [ "$have_litellm" != "$want_litellm" ] || [ ! -x .venv/bin/litellm ]; then
  echo "bench peers: installing litellm[proxy]==$want_litellm into bench/peers/.venv (about a minute, once)"
  start=$(date +%s)
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install --quiet -r requirements.txt -c constraints.txt
  echo "bench peers: litellm installed in $(( $(date +%s) - start )) s"
fi

want_portkey=$(node -p 'require("./package.json").dependencies["@portkey-ai/gateway"]')
have_portkey=$(node -p 'require("./node_modules/@portkey-ai/gateway/package.json").version' 2>/dev/null || true)
if [ "$have_portkey" != "$want_portkey" ]; then
  echo "bench peers: installing @portkey-ai/gateway@$want_portkey into bench/peers/node_modules"
  start=$(date +%s)
  npm ci --no-audit --no-fund --ignore-scripts
  echo "bench peers: portkey installed in $(( $(date +%s) - start )) s"
fi
