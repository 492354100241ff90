"""H2M benchmark: 1,000,000 x 128 float32 (by default) from one HDF5 file into the local Milvus, milvusdm beside the
pymilvus loop a user would write (10k-row batches of row dicts, then flush), alternating, N runs each.

Reports wall time, rows/s, client CPU (user+sys of the client process tree) and peak RSS, and the medians.
Run with the venv's Python while scripts/milvus runs:  .venv/bin/python scripts/bench_h2m.py [--rows N] [--runs N]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DENO = os.path.join(ROOT, ".tools/node_modules/.bin/deno")

PYMILVUS_LOOP = r'''
import sys, h5py
from pymilvus import MilvusClient, DataType
path, uri, name = sys.argv[1], sys.argv[2], sys.argv[3]
c = MilvusClient(uri=uri)
if c.has_collection(name): c.drop_collection(name)
schema = MilvusClient.create_schema(auto_id=False)
schema.add_field("id", DataType.INT64, is_primary=True)
f = h5py.File(path, "r")
emb, ids = f["embeddings"], f["ids"]
schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=emb.shape[1])
c.create_collection(name, schema=schema)
n = emb.shape[0]
for s in range(0, n, 10000):
    e = min(n, s + 10000)
    v, i = emb[s:e], ids[s:e]
    c.insert(name, [{"id": int(i[k]), "embedding": v[k].tolist()} for k in range(e - s)])
c.flush(name)
print(c.get_collection_stats(name)["row_count"])
'''


def measure(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {out.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of children is the max over all children so far; measured per run in a fresh process below.
    return wall, cpu, out


def peak_rss_mb(cmd):
    # Run under a tiny wrapper so each measurement's peak RSS is its own.
    wrapper = ("import resource,subprocess,sys,json;r=subprocess.run(sys.argv[1:]);"
               "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
               "print(json.dumps({'rc':r.returncode,'rss':u.ru_maxrss/1024,'cpu':u.ru_utime+u.ru_stime}),file=sys.stderr)")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    stats = json.loads(out.stderr.strip().splitlines()[-1])
    if stats["rc"] != 0:
        sys.exit(f"{cmd} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return wall, stats["cpu"], stats["rss"], out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--uri", default=os.environ.get("MILVUSDM_TEST_URI", "http://127.0.0.1:19530"))
    args = ap.parse_args()
    work = os.path.join(ROOT, ".work/bench")
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, f"h2m_{args.rows}x{args.dim}.h5")
    if not os.path.exists(path):
        rng = np.random.default_rng(1)
        with h5py.File(path + ".tmp", "w") as f:
            emb = f.create_dataset("embeddings", (args.rows, args.dim), dtype="float32")
            for s in range(0, args.rows, 100_000):
                e = min(args.rows, s + 100_000)
                emb[s:e] = rng.random((e - s, args.dim), dtype=np.float32)
            f.create_dataset("ids", data=np.arange(args.rows, dtype=np.int64))
        os.rename(path + ".tmp", path)
    host, port = args.uri.split("//")[1].split(":")
    yaml = os.path.join(work, "bench_H2M.yaml")
    with open(yaml, "w") as f:
        f.write(f"""H2M:
  data_path: ['{path}']
  data_dir:
  dest_host: '{host}'
  dest_port: {port}
  mode: 'overwrite'
  dest_collection_name: 'bench_milvusdm'
  index_type: none
""")
    results = {"milvusdm": [], "pymilvus loop": []}
    for run in range(args.runs):
        for name in results:
            if name == "milvusdm":
                cmd = [DENO, "run", "-A", os.path.join(ROOT, "cli/main.ts"), "--yaml", yaml, "--quiet"]
            else:
                cmd = [sys.executable, "-c", PYMILVUS_LOOP, path, args.uri, "bench_pymilvus"]
            wall, cpu, rss, _ = peak_rss_mb(cmd)
            results[name].append((wall, cpu, rss))
            print(f"run {run + 1} {name}: {wall:.1f} s wall, {args.rows / wall:,.0f} rows/s, "
                  f"{cpu:.1f} s CPU, {rss:.0f} MB peak RSS", flush=True)
    print(f"\n{args.rows:,} x {args.dim} float32, {args.runs} runs each, medians; load average "
          f"{os.getloadavg()[0]:.2f}")
    print("| client | wall s | rows/s | client CPU s | peak RSS MB |\n| --- | --- | --- | --- | --- |")
    med = {}
    for name, rs in results.items():
        w = statistics.median(r[0] for r in rs)
        c = statistics.median(r[1] for r in rs)
        m = statistics.median(r[2] for r in rs)
        med[name] = w
        print(f"| {name} | {w:.1f} | {args.rows / w:,.0f} | {c:.1f} | {m:.0f} |")
    print(f"\nmilvusdm / pymilvus loop rows/s: {med['pymilvus loop'] / med['milvusdm']:.2f}x")


if __name__ == "__main__":
    main()
