#!/usr/bin/env bash
# One command: build voicetoken, the ceiling server and the load driver,
# prepare the Node peer (npm ci in a copy under bench/.peer), then measure
# all three with identical settings in one run and print req/s, p50/p99,
# errors, RSS after load, exec-to-first-200 and the ratios, once per load
# driver: bench/loadgen (go) and wrk, the tool issue 4's figures were taken
# with (installed from Debian's packages when missing).
#
#   bash bench/run.sh                 # 32 connections, 10s each, both drivers
#   C=64 D=20s ROUNDS=5 DRIVERS=wrk bash bench/run.sh
#
# The three servers run side by side and are driven in turn, ROUNDS times;
# each target's median round is reported, so background load on a shared
# machine falls on all three alike.
#
# Needs Go and Node/npm (npm ci fetches express and livekit-server-sdk once).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
C=${C:-32}
D=${D:-10s}
ROUNDS=${ROUNDS:-3}
DRIVERS=${DRIVERS:-go wrk}
PEER_SRC=${PEER_SRC:-$root/bench/peers/node-express}
peer=$root/bench/.peer
work=$(mktemp -d "${TMPDIR:-/tmp}/voicetoken-bench.XXXXXX")
redis_pid=
trap '[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null; rm -rf "$work"' EXIT

echo "building into $work" >&2
go build -o "$work/voicetoken" ./cmd/voicetoken
go build -o "$work/ceiling" ./bench/ceiling
go build -o "$work/load" ./bench/load

if [ ! -d "$peer/node_modules" ] || ! cmp -s "$PEER_SRC/package-lock.json" "$peer/package-lock.json"; then
	echo "preparing the Node peer in $peer (npm ci)" >&2
	rm -rf "$peer"
	mkdir -p "$peer"
	cp "$PEER_SRC"/package.json "$PEER_SRC"/package-lock.json "$PEER_SRC"/*.mjs "$peer/"
	chmod -R u+w "$peer"
	(cd "$peer" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

case " $DRIVERS " in *" wrk "*)
	if ! command -v wrk >/dev/null; then
		echo "installing wrk (apt-get)" >&2
		if ! bash scripts/apt-install.sh wrk; then
			echo "wrk is missing and cannot be installed here: measuring with the go driver only" >&2
			DRIVERS=${DRIVERS//wrk/}
		fi
	fi
esac

# vt+redis is voicetoken with its rate limits in a local Redis (serve
# --redis: the decisions for one bucket coalesced, one EVALSHA per round
# trip, and a hot bucket's served from a lease of up to 64 tokens; the
# driver is one client address, so one bucket). Its timeout is 100ms, not
# the default 5ms: at saturation on a busy machine the round trip queues
# behind the load and a 5ms bound would measure the local fallback.
command -v redis-server >/dev/null || bash scripts/apt-install.sh redis-server
REDIS_PORT=${REDIS_PORT:-9379}
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$work" --save '' --appendonly no >"$work/redis.log" 2>&1 &
redis_pid=$!
# Up before the targets start, so that vt+redis's RATE_LIMIT_DEGRADED
# count below counts fallbacks under load, not a Redis still starting.
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

# voicetoken runs with its example policy (rooms, identity regexp, ttl
# caps), metrics and the JSON access log on (to voicetoken.log); the
# per-address limit is raised so the driver's 32 connections from one
# address measure the limiter's cost, not its refusals.
for driver in $DRIVERS; do
	mkdir -p "$work/$driver"
	echo "== driver: $driver" >&2
	"$work/load" -driver "$driver" -c "$C" -d "$D" -rounds "$ROUNDS" -logdir "$work/$driver" -json "$work/$driver/results.json" \
		-path '/api/token?room=test-room&identity=u1' \
		-baseline ceiling -peer node \
		-target "ceiling,http://127.0.0.1:9200,$work/ceiling -addr 127.0.0.1:9200" \
		-target "voicetoken,http://127.0.0.1:9000,$work/voicetoken serve --addr 127.0.0.1:9000 --policy $root/examples/policy.yaml --rate 1000000 --burst 1000000" \
		-target "vt+redis,http://127.0.0.1:9001,$work/voicetoken serve --addr 127.0.0.1:9001 --policy $root/examples/policy.yaml --rate 1000000 --burst 1000000 --redis redis://127.0.0.1:$REDIS_PORT/0 --redis-timeout 100ms" \
		-target "node,http://127.0.0.1:9100,PORT=9100 node $peer/server.mjs"
	degraded=$(grep -c '"event":"RATE_LIMIT_DEGRADED"' "$work/$driver/vt+redis.log" || true)
	echo "driver $driver: vt+redis fell back to local limits $degraded time(s) (RATE_LIMIT_DEGRADED)"
	grep -h '"event":"RATE_LIMIT_DEGRADED"' "$work/$driver/vt+redis.log" | sed 's/.*"time":"\([^"]*\)".*"error":"\([^"]*\)".*/  at \1: \2/' || true
	issued=$(grep -c '"event":"TOKEN_ISSUED"' "$work/$driver/voicetoken.log" || true)
	echo "driver $driver: voicetoken access log has $issued TOKEN_ISSUED lines"
	cp "$work/$driver/results.json" "$root/bench/.results-$driver.json"
done
