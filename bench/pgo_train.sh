#!/bin/bash
# The training workload of `make pgo`: real calls through the proxy of TREE, whose compiled
# extensions were built with ANTIBOT_PROFILE_GENERATE (they write their profile when it exits).
#
#   bench/pgo_train.sh TREE [CALLS=3000]
#
# A sipp PBX answers; sipp callers place CALLS calls over UDP and a third of that over TCP, with
# detection on (monitor mode: every call scored and relayed), then the proxy stops cleanly.
set -eu
TREE=$(realpath "$1"); CALLS=${2:-3000}
HERE=$(dirname "$(realpath "$0")")
PY=${PY:-$TREE/.venv/bin/python}
BASE=${PGO_PORT:-27600}
W=$(mktemp -d /tmp/antibot-pgo.XXXXXX)
uas='' proxy=''
trap 'kill $uas $proxy 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT

sipp -sf "$HERE/scenarios/uas_answer.xml" -i 127.0.0.1 -p $((BASE + 20)) -nostdin -timeout 600s \
    >"$W/uas.log" 2>&1 &
uas=$!
(cd "$TREE" && exec "$PY" -m antibot run --listen "udp:127.0.0.1:$BASE" --listen "tcp:127.0.0.1:$BASE" \
    --upstream "sip:127.0.0.1:$((BASE + 20))" --probe-interval 0 --log-level warning --workers 1 \
    --data-dir "$W/data" --no-api --mode monitor) >"$W/proxy.log" 2>&1 &
proxy=$!
sleep 3
# a call that fails still trains the build: say so, and go on
sipp -sf "$HERE/scenarios/uac_call.xml" -i 127.0.0.1 -p $((BASE + 30)) -r 150 -m "$CALLS" -nostdin \
    -timeout 120s "127.0.0.1:$BASE" >"$W/uac-udp.log" 2>&1 || echo "pgo training: sipp over UDP exited $?"
sipp -sf "$HERE/scenarios/uac_call.xml" -i 127.0.0.1 -p $((BASE + 31)) -t t1 -r 50 -m $((CALLS / 3)) \
    -nostdin -timeout 120s "127.0.0.1:$BASE" >"$W/uac-tcp.log" 2>&1 || echo "pgo training: sipp over TCP exited $?"
kill -TERM $proxy
wait $proxy || { echo "pgo training: the proxy exited $?"; tail -5 "$W/proxy.log"; }
echo "pgo training: $CALLS UDP and $((CALLS / 3)) TCP calls through $TREE"
