"""h5py's side of the parse and M2H benchmarks, for scripts/bench/run.py. Prints one JSON line: seconds and
cpuSeconds of the timed section, peakRssMb of the process, rows, bytes (vectors + ids).

  .venv/bin/python scripts/bench/h5py_io.py read FILE
      Reads `embeddings` and `ids` in slices of 4 MiB of vectors into numpy arrays (timed from opening the file).
  .venv/bin/python scripts/bench/h5py_io.py write SEGMENT_DIR DIM OUT
      Loads a Milvus 1.x segment's vectors and ids into numpy arrays (not timed), then writes them to OUT in slices
      of 4 MiB of vectors, in the layout milvusdm's M2H writes (lib/hdf5/contiguous_writer.ts): `embeddings`
      float32 [n, dim] and `ids` int64 [n], both contiguous (not chunked), created at their final size; timed from
      creating the file to closing it.
"""
import json
import os
import sys
import time

import h5py
import numpy as np

BATCH_BYTES = 4 << 20


def cpu():
    f = open("/proc/self/stat").read()
    f = f[f.rindex(")") + 2:].split(" ")
    return (int(f[11]) + int(f[12])) / 100


def peak_rss_mb():
    line = [x for x in open("/proc/self/status") if x.startswith("VmHWM")][0]
    return int(line.split()[1]) / 1024


def read(path):
    c0, t0 = cpu(), time.perf_counter()
    rows = nbytes = 0
    checksum = 0.0
    with h5py.File(path, "r") as f:
        emb, ids = f["embeddings"], f["ids"]
        n, dim = emb.shape
        step = max(1, BATCH_BYTES // (dim * 4))
        for s in range(0, n, step):
            v, i = emb[s:s + step], ids[s:s + step]
            rows += v.shape[0]
            nbytes += v.nbytes + i.nbytes
            checksum += float(v[0, 0]) + int(i[0] & 1)
    return {"seconds": time.perf_counter() - t0, "cpuSeconds": cpu() - c0, "peakRssMb": peak_rss_mb(),
            "rows": rows, "bytes": nbytes}


def write(segment_dir, dim, out):
    name = os.path.basename(segment_dir.rstrip("/"))
    ids = np.fromfile(os.path.join(segment_dir, name + ".uid"), dtype=np.int64, offset=8)
    vectors = np.fromfile(os.path.join(segment_dir, name + ".rv"), dtype=np.float32, offset=8).reshape(-1, dim)
    n = ids.shape[0]
    step = max(1, BATCH_BYTES // (dim * 4))
    c0, t0 = cpu(), time.perf_counter()
    with h5py.File(out, "w") as f:
        emb = f.create_dataset("embeddings", (n, dim), dtype="<f4")
        idd = f.create_dataset("ids", (n,), dtype="<i8")
        for s in range(0, n, step):
            emb[s:s + step] = vectors[s:s + step]
            idd[s:s + step] = ids[s:s + step]
    return {"seconds": time.perf_counter() - t0, "cpuSeconds": cpu() - c0, "peakRssMb": peak_rss_mb(),
            "rows": n, "bytes": vectors.nbytes + ids.nbytes}


if __name__ == "__main__":
    if sys.argv[1] == "read":
        result = read(sys.argv[2])
    elif sys.argv[1] == "write":
        result = write(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(f"unknown action {sys.argv[1]!r} (expected read or write)")
    print(json.dumps(result))
