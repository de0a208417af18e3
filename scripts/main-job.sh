#!/usr/bin/env bash
# The main job: installs what is missing, starts iocatcher-server on 127.0.0.1 with the embedded
# defaults (plain files under ./iocatcher-data for the persistent cache pool and the store),
# runs the heat2d checkpoint example against it end to end (including a restart from its last
# checkpoint), then stops the server.
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

OBJ="0x4ea7:$(date +%s)"
echo "main-job: heat2d, ${GRID}x${GRID} grid, $STEPS steps, object $OBJ"
node dist/examples/heat2d.js --server "127.0.0.1:$PORT" --object "$OBJ" --grid "$GRID" --steps "$STEPS" --checkpoint-every 50 | tee "$DATA/heat2d-full.log"
echo "main-job: restart check: run to step $((STEPS / 2)) on a second object, then resume it from its checkpoint"
OBJ2="0x4ea8:$(date +%s)"
node dist/examples/heat2d.js --server "127.0.0.1:$PORT" --object "$OBJ2" --grid "$GRID" --steps $((STEPS / 2)) --checkpoint-every 50 --quiet | tail -1
node dist/examples/heat2d.js --server "127.0.0.1:$PORT" --object "$OBJ2" --grid "$GRID" --steps "$STEPS" --checkpoint-every 50 --restart --quiet | tee "$DATA/heat2d-restart.log"
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
