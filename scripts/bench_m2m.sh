#!/usr/bin/env bash
# Peak RSS and time of M2H and M2M over a 1,000,000 × 128 Milvus 1.x source (1% deleted), with a running local
# Milvus (scripts/milvus start). Builds the source with scripts/bench_milvus1_parse.ts --keep.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(pwd)/.tools/node_modules/.bin:$PATH"
[ -d .work/bench-milvus1/db ] || deno run -A scripts/bench_milvus1_parse.ts --keep >/dev/null
W=.work/bench-m2x; rm -rf "$W"; mkdir -p "$W"
cat > "$W/M2H.yaml" <<YAML
M2H:
  source_milvus_path: '$(pwd)/.work/bench-milvus1'
  mysql_parameter:
  source_collection:
    deletes:
  data_dir: '$(pwd)/$W/out'
YAML
cat > "$W/M2M.yaml" <<YAML
M2M:
  source_milvus_path: '$(pwd)/.work/bench-milvus1'
  mysql_parameter:
  source_collection:
    deletes:
  dest_host: 127.0.0.1
  dest_port: ${MILVUSDM_MILVUS_PORT:-19530}
  dest_collection_name: bench_m2m
  mode: overwrite
  index_type: none
YAML
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f "M2H: %e s wall, %U s user, %S s sys, peak RSS %M KB" deno run -A cli/main.ts --yaml "$W/M2H.yaml" -q
/usr/bin/time -f "M2M: %e s wall, %U s user, %S s sys, peak RSS %M KB" deno run -A cli/main.ts --yaml "$W/M2M.yaml" -q
