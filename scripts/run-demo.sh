#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-demo.sh: the main demo of `make run`.  Runs the hello example, then
# starts examples/httpd on a free local port, drives it for a few seconds
# with wrk (100 keep-alive connections), prints the request rate and the
# latency percentiles, and stops the server.
#
# Usage: scripts/run-demo.sh BUILD_DIR [SECONDS]
set -eu

B=${1:?usage: run-demo.sh BUILD_DIR [SECONDS]}
SECS=${2:-3}
"$B/examples/hello"

log=$(mktemp)
"$B/examples/httpd" 127.0.0.1:0 2> "$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT INT TERM
port=
i=0
while [ -z "$port" ] && [ $i -lt 50 ]; do
	port=$(sed -n 's/^httpd: listening on .* port \([0-9]*\) .*/\1/p' "$log")
	if ! kill -0 "$pid" 2>/dev/null; then
		cat "$log" >&2
		echo "run-demo.sh: httpd exited" >&2
		exit 1
	fi
	[ -n "$port" ] || sleep 0.1
	i=$((i + 1))
done
if [ -z "$port" ]; then
	echo "run-demo.sh: httpd did not start" >&2
	exit 1
fi
cat "$log"
echo "wrk: ${SECS}s, 100 connections, http://127.0.0.1:$port/"
out=$(wrk -t1 -c100 -d"${SECS}s" --latency "http://127.0.0.1:$port/")
echo "$out" | sed -n 's/^Requests\/sec: *\(.*\)/requests\/s: \1/p'
echo "$out" | awk '/Latency Distribution/ { on = 1; next }
	on && /%/ { sub(/%/, "", $1); printf "latency p%s: %s\n", $1, $2; next }
	on { on = 0 }'
echo "$out" | grep -E 'Socket errors|Non-2xx' || echo "errors: none"
