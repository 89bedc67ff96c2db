#!/bin/bash
# Paired A/B of two antibot source trees: both run AT THE SAME TIME, each with its own sipp
# caller and PBX on loopback, so both see the same machine (load, frequency, cache pressure).
# On this shared 2-vCPU box two runs one after the other differ by +-150 us per call; two
# runs side by side differ by +-15 us, which is what a change of tens of microseconds needs.
#
#   bench/paired.sh TREE_A TREE_B [ROUNDS=3] [CALLS=6000] [RATE=200]
#
# A tree is a checkout with its compiled extensions built in place (`make build/.compiled`,
# or `python setup.py build_ext --inplace`), e.g. a `git worktree` of the other commit. Each
# round prints, per tree, the CPU per call of the proxy, of its embedded redis-server, and
# their sum (us; utime+stime from /proc over the measured calls). ANTIBOT_ARGS (default
# `--mode monitor`) is passed to both proxies. Ports: PAIRED_PORT (default 27100) and up.
# PY (default: this checkout's .venv/bin/python) runs both trees; PY_A / PY_B run one of them
# (e.g. the same tree under two interpreters, each with the extensions built for it).
set -u
A=$(realpath "$1"); B=$(realpath "$2"); ROUNDS=${3:-3}; CALLS=${4:-6000}; RATE=${5:-200}
HERE=$(dirname "$(realpath "$0")")
PY=${PY:-$HERE/../.venv/bin/python}; PY_A=${PY_A:-$PY}; PY_B=${PY_B:-$PY}
BASE=${PAIRED_PORT:-27100}
WORK=$(mktemp -d /tmp/antibot-paired.XXXXXX)

# one worker, in a tree that has workers at all (older trees run one process anyway)
workers_arg() { grep -q -- '"--workers"' "$1/antibot/cli.py" && echo "--workers 1"; }
cpu() { [ -n "$1" ] && awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

one() {  # one TREE PORT TAG PYTHON
    local tree=$1 port=$2 tag=$3 py=$4 w=$WORK/$3
    rm -rf "$w" && mkdir -p "$w"
    sipp -sf "$HERE/scenarios/uas_answer.xml" -i 127.0.0.1 -p $((port + 20)) -nostdin -timeout 600s \
        >"$w/uas.log" 2>&1 &
    local uas=$!
    # one process: the CPU of the process that serves SIP is what is compared
    (cd "$tree" && exec "$py" -m antibot run --listen "udp:127.0.0.1:$port" \
        --upstream "sip:127.0.0.1:$((port + 20))" --probe-interval 0 --log-level warning $(workers_arg "$tree") \
        --data-dir "$w/data" --no-api ${ANTIBOT_ARGS:---mode monitor}) >"$w/proxy.log" 2>&1 &
    local proxy=$!
    sleep 3
    local redis; redis=$(pgrep -P $proxy redis-server)
    sipp -sf "$HERE/scenarios/uac_call.xml" -i 127.0.0.1 -p $((port + 30)) -r "$RATE" -m 300 -nostdin \
        -timeout 60s "127.0.0.1:$port" >/dev/null 2>&1  # warm-up
    sleep 1
    local p0 r0 p1 r1 rc
    p0=$(cpu $proxy); r0=$(cpu "$redis")
    sipp -sf "$HERE/scenarios/uac_call.xml" -i 127.0.0.1 -p $((port + 30)) -r "$RATE" -m "$CALLS" \
        -nostdin -timeout 300s "127.0.0.1:$port" >/dev/null 2>&1
    rc=$?
    p1=$(cpu $proxy); r1=$(cpu "$redis")
    echo "$tag sipp_rc=$rc proxy $(( (p1 - p0) * 10000 / CALLS )) redis $(( (r1 - r0) * 10000 / CALLS ))" \
         "total $(( (p1 - p0 + r1 - r0) * 10000 / CALLS ))"
    kill $proxy $uas 2>/dev/null
    wait $proxy $uas 2>/dev/null
}

for _ in $(seq "$ROUNDS"); do
    one "$A" "$BASE" A "$PY_A" & one "$B" $((BASE + 100)) B "$PY_B" & wait
done
rm -rf "$WORK"
