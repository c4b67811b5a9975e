#!/bin/sh
# Stand-in for the `openclaw` command of a broken release (see Dockerfile).
if [ "${1:-}" = gateway ]; then
  echo "openclaw-broken: this test release fails at gateway start" >&2
  exit 1
fi
exec node /usr/local/lib/node_modules/openclaw/openclaw.mjs "$@"
