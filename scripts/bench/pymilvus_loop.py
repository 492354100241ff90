"""The pymilvus loop a user would write, for scripts/bench/run.py: read a source file, insert 10,000-row batches of
row dicts ({"id": int, "embedding": list}), then flush. Prints the rows inserted.

  .venv/bin/python scripts/bench/pymilvus_loop.py hdf5 FILE URI COLLECTION
  .venv/bin/python scripts/bench/pymilvus_loop.py milvus1 SEGMENT_DIR DIM URI COLLECTION
  /usr/bin/python3 scripts/bench/pymilvus_loop.py faiss FILE URI COLLECTION   (BENCH_EXTRA_SITE=the venv's site-packages)

HDF5 is read with h5py in slices; a Faiss Flat index with faiss.read_index and reconstruct_n; a Milvus 1.x segment
with numpy (.rv memory-mapped after its 8-byte header, .uid and deleted_docs read whole, deleted rows skipped).

Faiss comes from Debian's python3-faiss, built against Debian's numpy 1.24, which the venv's pandas (imported by
pymilvus) refuses; so the Faiss loop runs under /usr/bin/python3 with Debian's numpy and pandas
(apt-get install python3-pandas) first on the path and the venv's pymilvus after them.
"""
import os
import sys

if os.environ.get("BENCH_EXTRA_SITE"):
    sys.path.append(os.environ["BENCH_EXTRA_SITE"])

import numpy as np  # noqa: E402
from pymilvus import DataType, MilvusClient  # noqa: E402

BATCH = 10_000


def batches_hdf5(path):
    import h5py

    f = h5py.File(path, "r")
    emb, ids = f["embeddings"], f["ids"]
    n = emb.shape[0]

    def gen():
        for s in range(0, n, BATCH):
            yield ids[s:s + BATCH], emb[s:s + BATCH]
    return emb.shape[1], gen()


def batches_faiss(path):
    import faiss

    index = faiss.read_index(path)
    n, d = index.ntotal, index.d

    def gen():
        for s in range(0, n, BATCH):
            e = min(n, s + BATCH)
            yield np.arange(s, e, dtype=np.int64), index.reconstruct_n(s, e - s)
    return d, gen()


def batches_milvus1(segment_dir, dim):
    name = os.path.basename(segment_dir.rstrip("/"))
    uid = np.fromfile(os.path.join(segment_dir, name + ".uid"), dtype=np.int64, offset=8)
    rv = np.memmap(os.path.join(segment_dir, name + ".rv"), dtype=np.float32, mode="r", offset=8,
                   shape=(uid.shape[0], dim))
    deleted = np.fromfile(os.path.join(segment_dir, "deleted_docs"), dtype=np.int32, offset=8)
    live = np.ones(uid.shape[0], dtype=bool)
    live[deleted] = False

    def gen():
        for s in range(0, uid.shape[0], BATCH):
            keep = live[s:s + BATCH]
            yield uid[s:s + BATCH][keep], rv[s:s + BATCH][keep]
    return dim, gen()


def main():
    kind = sys.argv[1]
    if kind == "milvus1":
        path, dim, uri, name = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
        dim, batches = batches_milvus1(path, dim)
    else:
        path, uri, name = sys.argv[2:5]
        dim, batches = (batches_hdf5 if kind == "hdf5" else batches_faiss)(path)
    client = MilvusClient(uri=uri)
    if client.has_collection(name):
        client.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
    client.create_collection(name, schema=schema)
    rows = 0
    for ids, vectors in batches:
        client.insert(name, [{"id": int(ids[k]), "embedding": vectors[k].tolist()} for k in range(len(ids))])
        rows += len(ids)
    client.flush(name)
    print(rows)


if __name__ == "__main__":
    main()
