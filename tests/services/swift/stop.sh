#!/usr/bin/env bash
# Stop the Swift servers started by start.sh (their data stays in KEEL_SWIFT_DIR).
set -euo pipefail
DIR="${KEEL_SWIFT_DIR:-/tmp/keel-swift}"
for pidfile in "$DIR"/run/*.pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    rm -f "$pidfile"
done
