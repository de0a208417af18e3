#!/usr/bin/env bash
# The main job: installs what is missing, starts iocatcher-server on 127.0.0.1 with the embedded
# defaults (plain files under ./iocatcher-data for the persistent cache pool and the store),
# runs the heat2d example (a checkpoint set) against it end to end, SIGKILLs a second run during
# one of its checkpoints, restarts it from the set's latest() complete version and checks that it
# ends with the same grid as the uninterrupted run, then stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

DATA=${IOC_DATA_DIR:-./iocatcher-data}
PORT=${IOC_PORT:-8556}
GRID=${HEAT2D_GRID:-1024}
STEPS=${HEAT2D_STEPS:-300}
mkdir -p "$DATA"
LOG="$DATA/server.log"

mkdir -p "$DATA/pool"
echo "main-job: starting iocatcher-server on 127.0.0.1:$PORT (cache pool $DATA/pool, store $DATA/store, log $LOG)"
node bin/iocatcher-server.js --port "$PORT" --nvdimm "$DATA/pool" --cache-size "${IOC_CACHE_SIZE:-1GB}" \
  --store "$DATA/store" -v 127.0.0.1 >"$LOG" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "ready on" "$LOG" && break
  kill -0 $SERVER 2>/dev/null || { cat "$LOG"; echo "main-job: server failed to start" >&2; exit 1; }
  sleep 0.1
done
grep "ready on" "$LOG"

RUN=$(date +%s)
echo "main-job: heat2d on a checkpoint set, ${GRID}x${GRID} grid, $STEPS steps, uninterrupted (set heat2d-full-$RUN)"
node dist/examples/heat2d.js --server "127.0.0.1:$PORT" --set "heat2d-full-$RUN" --grid "$GRID" --steps "$STEPS" --checkpoint-every 50 | tee "$DATA/heat2d-full.log"
KILL_AT=$(( (STEPS / 100) * 50 ))
[ "$KILL_AT" -ge 50 ] || KILL_AT=50
echo "main-job: restart check: a second run (set heat2d-kill-$RUN) is SIGKILLed while its checkpoint of step $KILL_AT is under way, then restarts from latest()"
node dist/examples/heat2d.js --server "127.0.0.1:$PORT" --set "heat2d-kill-$RUN" --grid "$GRID" --steps "$STEPS" --checkpoint-every 50 >"$DATA/heat2d-killed.log" 2>&1 &
APP=$!
for _ in $(seq 1 6000); do
  grep -q "checkpointing step $KILL_AT\b" "$DATA/heat2d-killed.log" && break
  kill -0 $APP 2>/dev/null || break
  sleep 0.01
done
kill -KILL $APP 2>/dev/null || true
wait $APP 2>/dev/null || true
cat "$DATA/heat2d-killed.log"
if grep -q '^checksum' "$DATA/heat2d-killed.log"; then
  echo "main-job: the second run finished before it could be killed" >&2
  exit 1
fi
echo "main-job: killed during the checkpoint of step $KILL_AT; restarting from the set's latest complete version"
node dist/examples/heat2d.js --server "127.0.0.1:$PORT" --set "heat2d-kill-$RUN" --grid "$GRID" --steps "$STEPS" --checkpoint-every 50 --restart --quiet | tee "$DATA/heat2d-restart.log"
full=$(grep '^checksum' "$DATA/heat2d-full.log")
restarted=$(grep '^checksum' "$DATA/heat2d-restart.log")
kill -TERM $SERVER; wait $SERVER || true
trap - EXIT
echo "main-job: server stopped; objects persisted under $DATA/store: $(ls "$DATA/store" | wc -l) files"
if [ "$full" = "$restarted" ]; then
  echo "main-job: OK: the restarted run ends with the same grid ($full)"
else
  echo "main-job: MISMATCH: $full vs $restarted" >&2
  exit 1
fi
