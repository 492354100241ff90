"""Writes the benchmark's source files (scripts/bench/run.py calls it; each file goes to NAME.partial, then NAME).

  .venv/bin/python scripts/bench/gen_data.py hdf5 OUT ROWS DIM
      An HDF5 file written with h5py: `embeddings` float32 [ROWS, DIM] (contiguous, h5py's default), standard
      normal values from a fixed seed, and `ids` int64 = 0..ROWS-1.
  /usr/bin/python3 scripts/bench/gen_data.py faiss HDF5 FLAT_OUT IVF_OUT
      Faiss IndexFlatL2 and IndexIVFFlat files written with real faiss (Debian python3-faiss) from that HDF5 file's
      vectors: the Flat index holds every row in order (ids are row numbers); the IVFFlat index (1024 lists at
      128-d, 256 above, fewer for small files; trained briefly on the first 40 rows per list) holds every row
      with the HDF5 ids.
"""
import os
import sys

import h5py
import numpy as np

CHUNK = 100_000


def write_hdf5(out, rows, dim):
    rng = np.random.default_rng(rows * 1000 + dim)
    partial = out + ".partial"
    with h5py.File(partial, "w") as f:
        emb = f.create_dataset("embeddings", (rows, dim), dtype="float32")
        for s in range(0, rows, CHUNK):
            e = min(rows, s + CHUNK)
            emb[s:e] = rng.standard_normal((e - s, dim), dtype=np.float32)
        f.create_dataset("ids", data=np.arange(rows, dtype=np.int64))
    os.replace(partial, out)


def write_faiss(hdf5, flat_out, ivf_out):
    import faiss

    with h5py.File(hdf5, "r") as f:
        emb, ids = f["embeddings"], f["ids"]
        rows, dim = emb.shape
        flat = faiss.IndexFlatL2(dim)
        for s in range(0, rows, CHUNK):
            flat.add(np.ascontiguousarray(emb[s:s + CHUNK]))
        faiss.write_index(flat, flat_out + ".partial")
        del flat
        # Debian's faiss is linked to the reference BLAS (~1 GFLOP/s here): training and assigning cost about
        # rows x lists x dim flops, so 768-d files get 256 lists, and the training is short (40 points per list,
        # 10 k-means iterations). The lists' quality does not matter to a reader.
        nlist = max(1, min(1024 if dim <= 128 else 256, rows // 64))
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
        ivf.cp.niter = 10
        ivf.train(np.ascontiguousarray(emb[:min(rows, 40 * nlist)]))
        for s in range(0, rows, CHUNK):
            ivf.add_with_ids(np.ascontiguousarray(emb[s:s + CHUNK]), np.ascontiguousarray(ids[s:s + CHUNK]))
        faiss.write_index(ivf, ivf_out + ".partial")
    os.replace(flat_out + ".partial", flat_out)
    os.replace(ivf_out + ".partial", ivf_out)


if __name__ == "__main__":
    if sys.argv[1] == "hdf5":
        write_hdf5(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "faiss":
        write_faiss(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"unknown kind {sys.argv[1]!r} (expected hdf5 or faiss)")
