#!/usr/bin/env bash
# M2H (Milvus 1.x → HDF5) beside h5py writing the same arrays: the 990,000 × 128 float32 vectors and int64 ids of
# the scripts/bench_milvus1_parse.ts --keep source (1% deleted), exported by milvusdm, are loaded into numpy and
# written again by h5py in 4 MB slices into a resizable dataset chunked like milvusdm's (2048 rows, 1 MiB), ids in
# 65536-id chunks. Reports wall s, rows/s, CPU s (user+sys) and peak RSS of each, `--repeat` runs (default 3).
# Usage: scripts/bench_m2h.sh [--repeat N]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(pwd)/.tools/node_modules/.bin:$PATH"
REPEAT=3; [ "${1:-}" = "--repeat" ] && REPEAT=$2
[ -d .work/bench-milvus1/db ] || deno run -A scripts/bench_milvus1_parse.ts --keep >/dev/null
W=.work/bench-m2h-cmp; rm -rf "$W"; mkdir -p "$W"
cat > "$W/M2H.yaml" <<YAML
M2H:
  source_milvus_path: '$(pwd)/.work/bench-milvus1'
  mysql_parameter:
  source_collection:
    deletes:
  data_dir: '$(pwd)/$W/out'
YAML
H5PY_WRITE='
import sys, time, resource, h5py, numpy as np
src, dst = sys.argv[1], sys.argv[2]
with h5py.File(src, "r") as f:
    x = f["embeddings"][:]
    ids = f["ids"][:]
t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
step = (4 << 20) // (x.shape[1] * 4)
with h5py.File(dst, "w") as f:
    e = f.create_dataset("embeddings", shape=(0, x.shape[1]), maxshape=(None, x.shape[1]), chunks=(2048, x.shape[1]), dtype="<f4")
    i = f.create_dataset("ids", shape=(0,), maxshape=(None,), chunks=(65536,), dtype="<i8")
    for s in range(0, x.shape[0], step):
        n = min(x.shape[0], s + step)
        e.resize((n, x.shape[1])); e[s:n] = x[s:n]
        i.resize((n,)); i[s:n] = ids[s:n]
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
print(f"h5py write: {x.shape[0]} rows, {wall:.2f} s wall, {x.shape[0] / wall:,.0f} rows/s, {cpu:.2f} CPU s (writing only, arrays in memory)")
'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$REPEAT"); do
  rm -rf "$W/out"
  /usr/bin/time -f "milvusdm M2H: %e s wall, %U s user, %S s sys, peak RSS %M KB (read the 1.x segments + write, startup included)" \
    deno run -A cli/main.ts --yaml "$W/M2H.yaml" -q
  src=$(ls "$W"/out/*/*/*.h5 | head -1)
  rm -f "$W/h5py.h5"
  .venv/bin/python -c "$H5PY_WRITE" "$src" "$W/h5py.h5"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
