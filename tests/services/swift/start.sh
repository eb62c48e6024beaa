#!/usr/bin/env bash
# Start a single-node OpenStack Swift (tempauth + s3api) on 127.0.0.1 for the artifact store
# tests: an S3-compatible server that is not AWS. Idempotent: installs the Debian packages only
# when missing, configures and starts only what is not running, and returns once the S3 API
# answers. Prints the endpoint and credentials as shell assignments on stdout.
#
#   KEEL_SWIFT_DIR   state folder (configs, rings, object data, logs)  default /tmp/keel-swift
#   KEEL_SWIFT_PORT  S3/Swift proxy port                                default 8391
#   (storage servers and memcached, which tempauth needs, listen on the next four ports)
#
# S3 credentials (tempauth user test:tester): key "test:tester", secret "testing".
# Stop it with tests/services/swift/stop.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${KEEL_SWIFT_DIR:-/tmp/keel-swift}"
PORT="${KEEL_SWIFT_PORT:-8391}"
OBJECT_PORT=$((PORT + 1))
CONTAINER_PORT=$((PORT + 2))
ACCOUNT_PORT=$((PORT + 3))
MEMCACHE_PORT=$((PORT + 4))
ENDPOINT="http://127.0.0.1:${PORT}"

say() { echo "swift: $*" >&2; }

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9  # one starter at a time (pytest-xdist workers start it concurrently)

ready() {
    # healthcheck says OK, and s3api with tempauth (and its memcached) checks a badly signed
    # S3 request all the way to the signature
    curl -sf -m 2 "${ENDPOINT}/healthcheck" >/dev/null 2>&1 || return 1
    curl -s -m 2 -H "Authorization: AWS test:tester:probe" -H "Date: $(date -uR)" \
        "${ENDPOINT}/" 2>/dev/null | grep -q "<Code>SignatureDoesNotMatch</Code>"
}

emit() {
    echo "KEEL_SWIFT_ENDPOINT=${ENDPOINT}"
    echo "KEEL_SWIFT_KEY=test:tester"
    echo "KEEL_SWIFT_SECRET=testing"
}

if ready; then
    emit
    exit 0
fi

PACKAGES="swift swift-proxy swift-account swift-container swift-object python3-swift memcached curl"
if ! command -v swift-proxy-server >/dev/null 2>&1 || ! command -v swift-object-server >/dev/null 2>&1 \
    || ! command -v memcached >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        say "OpenStack Swift is not installed and this is not root: apt-get install -y $PACKAGES"
        exit 3
    fi
    say "installing OpenStack Swift from the Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086  # a list of words
    if ! apt-get install -y -q --no-install-recommends $PACKAGES >"$DIR/apt.log" 2>&1; then
        apt-get update -q >>"$DIR/apt.log" 2>&1
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $PACKAGES >>"$DIR/apt.log" 2>&1 \
            || { say "apt-get failed, see $DIR/apt.log"; exit 3; }
    fi
fi

ETC="$DIR/etc"
mkdir -p "$ETC" "$DIR/srv/d1" "$DIR/run" "$DIR/log"
for name in swift proxy-server object-server container-server account-server; do
    sed -e "s|@DIR@|$DIR|g" -e "s|@PORT@|$PORT|g" -e "s|@OBJECT_PORT@|$OBJECT_PORT|g" \
        -e "s|@CONTAINER_PORT@|$CONTAINER_PORT|g" -e "s|@ACCOUNT_PORT@|$ACCOUNT_PORT|g" \
        -e "s|@MEMCACHE_PORT@|$MEMCACHE_PORT|g" \
        -e "s|@USER@|$(id -un)|g" "$HERE/$name.conf" >"$ETC/$name.conf"
done

# rings: one device, one replica, 2^6 partitions (built once)
for kind in object:$OBJECT_PORT container:$CONTAINER_PORT account:$ACCOUNT_PORT; do
    ring="${kind%%:*}" port="${kind##*:}"
    if [ ! -f "$ETC/$ring.ring.gz" ]; then
        rm -f "$ETC/$ring.builder"
        swift-ring-builder "$ETC/$ring.builder" create 6 1 1 >/dev/null
        swift-ring-builder "$ETC/$ring.builder" add "r1z1-127.0.0.1:${port}/d1" 1 >/dev/null
        swift-ring-builder "$ETC/$ring.builder" rebalance >/dev/null || true
    fi
done

SERVERS="memcached account container object proxy"
for server in $SERVERS; do
    pidfile="$DIR/run/$server.pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        continue
    fi
    if [ "$server" = memcached ]; then
        argv=(memcached -l 127.0.0.1 -p "$MEMCACHE_PORT" -U 0 -m 16 -u "$(id -un)")
    else
        argv=("swift-$server-server" "$ETC/$server-server.conf" -v)
    fi
    # the lock's descriptor (9) is not handed to the servers, or it would stay held
    setsid "${argv[@]}" >"$DIR/log/$server.log" 2>&1 </dev/null 9>&- &
    echo $! >"$pidfile"
done

for _ in $(seq 1 300); do
    if ready; then
        say "ready at ${ENDPOINT} (state in $DIR)"
        emit
        exit 0
    fi
    for server in $SERVERS; do
        if ! kill -0 "$(cat "$DIR/run/$server.pid")" 2>/dev/null; then
            say "$server exited; its log ($DIR/log/$server.log):"
            tail -n 30 "$DIR/log/$server.log" >&2
            exit 1
        fi
    done
    sleep 0.1
done
say "not ready after 30 s; logs in $DIR/log"
exit 1
