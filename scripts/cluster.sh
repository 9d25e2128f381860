#!/usr/bin/env bash
# A whole airlock deployment on one machine, for trying the scale-out topology (docs/deployment.md):
#   PostgreSQL (a throwaway cluster in a temp dir: state, queues, LISTEN/NOTIFY),
#   a Chroma server (`chroma run`: file_search vectors),
#   an inference server (`python -m llama_cpp.server` on the embedded model; skipped with --scripted),
#   and two airlock replicas sharing all three plus one files directory.
# Usage: scripts/cluster.sh [--scripted] [--replicas N] [--port BASE]
#   Prints the replicas' URLs, then waits; Ctrl-C (or SIGTERM) stops everything and deletes the
#   temp dir. Put any load balancer in front of the replicas: every request may go to any of them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripted=0; replicas=2; port=${AIRLOCK_CLUSTER_PORT:-8100}
while [ $# -gt 0 ]; do
  case "$1" in
    --scripted) scripted=1 ;;
    --replicas) replicas=$2; shift ;;
    --port) port=$2; shift ;;
    *) echo "usage: $0 [--scripted] [--replicas N] [--port BASE]" >&2; exit 2 ;;
  esac
  shift
done

py=.venv/bin/python
[ -x "$py" ] || { echo "run scripts/install.sh first" >&2; exit 1; }
work=$(mktemp -d /tmp/airlock-cluster.XXXXXX)
chmod 755 "$work"   # the PostgreSQL server runs as an unprivileged user when we are root
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do   # up to 10 s for a clean stop, then SIGKILL
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  bash scripts/cluster/pg.sh stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

wait_http() {  # url, name: waits up to 120 s for a 200
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$2 did not become ready ($1); logs in $work" >&2
  exit 1
}

db_url=$(bash scripts/cluster/pg.sh start "$work/pg" $((port + 90)))
echo "PostgreSQL  $db_url"

chroma_port=$((port + 91))
.venv/bin/chroma run --path "$work/chroma" --host 127.0.0.1 --port "$chroma_port" \
  >"$work/chroma.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$chroma_port/api/v2/heartbeat" "chroma run"
echo "Chroma      http://127.0.0.1:$chroma_port"

model_args=(--model scripted)
if [ "$scripted" = 0 ]; then
  gguf=$("$py" -c "from airlock.models.registry import embedded_gguf; print(embedded_gguf())")
  llm_port=$((port + 92))
  "$py" -m llama_cpp.server --model "$gguf" --model_alias smollm2 --host 127.0.0.1 \
    --port "$llm_port" --n_ctx 8192 >"$work/llama.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$llm_port/v1/models" "llama_cpp.server"
  echo "Inference   http://127.0.0.1:$llm_port/v1 (llama_cpp.server, $gguf)"
  cat >"$work/models.toml" <<EOF
default = "smollm2"
[models.smollm2]
base_url = "http://127.0.0.1:$llm_port/v1"
model = "smollm2"
EOF
  model_args=(--models-config "$work/models.toml")
fi

mkdir -p "$work/files"
for i in $(seq 1 "$replicas"); do
  "$py" -m airlock serve --host 127.0.0.1 --port $((port + i - 1)) --data-dir "$work/replica$i" \
    --database-url "$db_url" --files-dir "$work/files" --chroma-url "http://127.0.0.1:$chroma_port" \
    "${model_args[@]}" >"$work/replica$i.log" 2>&1 &
  pids+=($!)
done
for i in $(seq 1 "$replicas"); do
  wait_http "http://127.0.0.1:$((port + i - 1))/health" "replica $i"
  echo "Replica $i   http://127.0.0.1:$((port + i - 1))/v1"
done
echo "Logs in $work. Ctrl-C stops the cluster."
wait -n "${pids[@]}" || true
echo "a process of the cluster exited; stopping" >&2
