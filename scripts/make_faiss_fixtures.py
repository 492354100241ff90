#!/usr/bin/python3
"""Writes small Faiss index files and their ground truth for the milvusdm Faiss reader tests.

Usage: /usr/bin/python3 scripts/make_faiss_fixtures.py OUTDIR

Needs faiss and numpy (Debian: apt-get install -y python3-faiss, faiss 1.7.3). For every fixture NAME it writes
  NAME.faiss                 the index, written by faiss itself (a few are patched, marked "synthetic")
  NAME.ids.i64               the external ids, little-endian int64
  NAME.vecs.f32 / .vecs.u8   the vectors as faiss reconstructs them (float32 or packed bits), row-major
and a manifest.json listing each fixture: file, fourcc tree, dim, ntotal, metric, exact, lossy tolerance, and what
the reader is expected to do ("ok", "lossy" or "unsupported").

The ground truth comes from faiss's own reconstruct / reconstruct_n (IVF indexes get a hashtable direct map after
the file is written), or from the input data where faiss cannot reconstruct (IVFFlatDedup, IDMap over IVF).
"""

import json
import os
import shutil
import struct
import sys
import tempfile
import time

import faiss
import numpy as np

OUT = ""
MANIFEST = []
KEEP_ALIVE = []  # faiss objects that must outlive the indexes using them


def data(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d)).astype("float32")


def bits(n, d, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(n, d // 8), dtype=np.uint8)


def unique_ids(n, seed):
    """Non-sequential, unique, some negative and some beyond 2^32."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(10**12, size=n, replace=False).astype("int64") - 10**9
    return ids


def path(name, ext=".faiss"):
    return os.path.join(OUT, name + ext)


def write_truth(name, ids, vecs):
    ids = np.ascontiguousarray(ids, dtype="<i8")
    ids.tofile(path(name, ".ids.i64"))
    if vecs.dtype == np.uint8:
        np.ascontiguousarray(vecs).tofile(path(name, ".vecs.u8"))
    else:
        np.ascontiguousarray(vecs, dtype="<f4").tofile(path(name, ".vecs.f32"))


def add(name, tree, dim, ntotal, metric, *, ids=None, vecs=None, exact=True, vector_type="float", tolerance=0.0,
        expect="ok", synthetic=False, metric_arg=None, note=None, extra_files=None):
    entry = {
        "name": name,
        "file": name + ".faiss",
        "tree": tree,
        "dim": dim,
        "ntotal": ntotal,
        "metric": metric,
        "exact": exact,
        "vectorType": vector_type,
        "tolerance": tolerance,
        "expect": expect if expect != "ok" or exact else "lossy",
        "synthetic": synthetic,
    }
    if metric_arg is not None:
        entry["metricArg"] = metric_arg
    if note:
        entry["note"] = note
    if extra_files:
        entry["extraFiles"] = extra_files
    if ids is not None:
        assert len(ids) == ntotal and len(vecs) == ntotal, name
        write_truth(name, ids, vecs)
        entry["ids"] = name + ".ids.i64"
        entry["vecs"] = name + (".vecs.u8" if vector_type == "binary" else ".vecs.f32")
    MANIFEST.append(entry)


def ivf_truth(index, ids):
    """Reconstructs by id through a hashtable direct map (set after the file is written)."""
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    return np.vstack([index.reconstruct(int(i)) for i in ids]) if len(ids) else np.zeros((0, index.d), "float32")


def list_ids(invlists):
    out = []
    for l in range(invlists.nlist):
        n = invlists.list_size(l)
        if n:
            out.append(faiss.rev_swig_ptr(invlists.get_ids(l), n).copy())
    return np.concatenate(out) if out else np.zeros(0, "int64")


# ---------------------------------------------------------------------------------------------------------------
# Exact float indexes


def flat_fixtures():
    x = data(500, 16, 1)
    idx = faiss.IndexFlatL2(16)
    idx.add(x)
    faiss.write_index(idx, path("flat_l2"))
    add("flat_l2", ["IxF2"], 16, 500, "L2", ids=np.arange(500), vecs=idx.reconstruct_n(0, 500))

    x = data(300, 32, 2)
    idx = faiss.IndexFlatIP(32)
    idx.add(x)
    faiss.write_index(idx, path("flat_ip"))
    add("flat_ip", ["IxFI"], 32, 300, "IP", ids=np.arange(300), vecs=idx.reconstruct_n(0, 300))

    x = data(257, 16, 3)
    idx = faiss.IndexFlat(16, faiss.METRIC_L1)
    idx.add(x)
    faiss.write_index(idx, path("flat_l1"))
    add("flat_l1", ["IxFl"], 16, 257, "L1", ids=np.arange(257), vecs=idx.reconstruct_n(0, 257))

    x = data(200, 16, 4)
    idx = faiss.IndexFlat(16, faiss.METRIC_Lp)
    idx.metric_arg = 3.0
    idx.add(x)
    faiss.write_index(idx, path("flat_lp3"))
    add("flat_lp3", ["IxFl"], 16, 200, "Lp", metric_arg=3.0, ids=np.arange(200), vecs=idx.reconstruct_n(0, 200))

    idx = faiss.IndexFlatL2(16)
    faiss.write_index(idx, path("flat_empty"))
    add("flat_empty", ["IxF2"], 16, 0, "L2", ids=np.zeros(0, "int64"), vecs=np.zeros((0, 16), "float32"))

    # IDMap / IDMap2 over Flat, with ids removed afterwards (non-sequential)
    for name, cls, fourcc in (("idmap_flat", faiss.IndexIDMap, "IxMp"), ("idmap2_flat", faiss.IndexIDMap2, "IxM2")):
        x = data(700, 16, 5)
        ids = unique_ids(700, 6)
        idx = cls(faiss.IndexFlatL2(16))
        idx.add_with_ids(x, ids)
        idx.remove_ids(np.ascontiguousarray(ids[::7]))
        faiss.write_index(idx, path(name))
        n = idx.ntotal
        idmap = faiss.vector_to_array(idx.id_map)
        inner = faiss.downcast_index(idx.index)
        add(name, [fourcc, "IxF2"], 16, n, "L2", ids=idmap, vecs=inner.reconstruct_n(0, n))


def train_ivf(index, seed, n=2000):
    index.train(data(n, index.d, seed))


def ivf_fixtures():
    d = 16
    # full layout: every list gets vectors; ids from add_with_ids, some removed
    q = faiss.IndexFlatL2(d)
    idx = faiss.IndexIVFFlat(q, d, 16)
    train_ivf(idx, 10)
    x = data(2000, d, 11)
    ids = unique_ids(2000, 12)
    idx.add_with_ids(x, ids)
    idx.remove_ids(np.ascontiguousarray(ids[::5]))
    faiss.write_index(idx, path("ivfflat_full"))
    kept = list_ids(idx.invlists)
    add("ivfflat_full", ["IwFl", "IxF2", "ilar"], d, idx.ntotal, "L2", ids=kept, vecs=ivf_truth(idx, kept),
        note="ilar full")

    # big and small lists side by side: most vectors crowd near one point, so one list holds thousands (read with
    # direct reads, more than 64 KiB of codes) while the others hold a few (read through the read-ahead window)
    d = 32
    q = faiss.IndexFlatL2(d)
    idx = faiss.IndexIVFFlat(q, d, 8)
    train_ivf(idx, 14)
    x = data(6000, d, 15)
    x[:5800] = x[:5800] * 0.01 + 3.0
    ids = unique_ids(6000, 16)
    idx.add_with_ids(x, ids)
    faiss.write_index(idx, path("ivfflat_mixed"))
    kept = list_ids(idx.invlists)
    add("ivfflat_mixed", ["IwFl", "IxF2", "ilar"], d, idx.ntotal, "L2", ids=kept, vecs=ivf_truth(idx, kept),
        note="one list over 64 KiB, the others small")
    d = 16

    # sparse layout: 64 lists, vectors only near a few centroids
    q = faiss.IndexFlatIP(d)
    idx = faiss.IndexIVFFlat(q, d, 64, faiss.METRIC_INNER_PRODUCT)
    train_ivf(idx, 13)
    cent = q.reconstruct_n(0, 64)[:5]
    x = (np.repeat(cent, 60, axis=0) + 0.001 * data(300, d, 14)).astype("float32")
    ids = unique_ids(300, 15)
    idx.add_with_ids(x, ids)
    faiss.write_index(idx, path("ivfflat_sparse"))
    kept = list_ids(idx.invlists)
    add("ivfflat_sparse", ["IwFl", "IxFI", "ilar"], d, idx.ntotal, "IP", ids=kept, vecs=ivf_truth(idx, kept),
        note="ilar sprs")

    # hashtable direct map stored in the file
    q = faiss.IndexFlatL2(d)
    idx = faiss.IndexIVFFlat(q, d, 8)
    train_ivf(idx, 16)
    idx.set_direct_map_type(faiss.DirectMap.Hashtable)
    x = data(600, d, 17)
    ids = unique_ids(600, 18)
    idx.add_with_ids(x, ids)
    faiss.write_index(idx, path("ivfflat_hashtable"))
    add("ivfflat_hashtable", ["IwFl", "IxF2", "ilar"], d, 600, "L2", ids=ids,
        vecs=np.vstack([idx.reconstruct(int(i)) for i in ids]), note="direct map hashtable")

    # array direct map stored in the file (sequential ids)
    q = faiss.IndexFlatL2(d)
    idx = faiss.IndexIVFFlat(q, d, 8)
    train_ivf(idx, 19)
    idx.add(data(500, d, 20))
    idx.make_direct_map(True)
    faiss.write_index(idx, path("ivfflat_array"))
    add("ivfflat_array", ["IwFl", "IxF2", "ilar"], d, 500, "L2", ids=np.arange(500), vecs=idx.reconstruct_n(0, 500),
        note="direct map array")

    # L1 metric IVF (header carries metric_arg)
    q = faiss.IndexFlat(d, faiss.METRIC_L1)
    idx = faiss.IndexIVFFlat(q, d, 4, faiss.METRIC_L1)
    train_ivf(idx, 21, 400)
    idx.add(data(400, d, 22))
    faiss.write_index(idx, path("ivfflat_l1"))
    kept = list_ids(idx.invlists)
    add("ivfflat_l1", ["IwFl", "IxFl", "ilar"], d, 400, "L1", metric_arg=0.0, ids=kept, vecs=ivf_truth(idx, kept))

    # on-disk inverted lists, data file named relative to OUTDIR (faiss runs with cwd = OUTDIR)
    ondisk_fixture("ivfflat_ondisk", relative=True)
    # on-disk lists whose stored absolute path no longer exists: the data file sits beside the index
    ondisk_fixture("ivfflat_ondisk_moved", relative=False)

    # IDMap over IVF: internal ids are looked up in the id map
    q = faiss.IndexFlatL2(d)
    inner = faiss.IndexIVFFlat(q, d, 8)
    train_ivf(inner, 23)
    idx = faiss.IndexIDMap(inner)
    x = data(800, d, 24)
    ids = unique_ids(800, 25)
    idx.add_with_ids(x, ids)
    faiss.write_index(idx, path("idmap_ivfflat"))
    add("idmap_ivfflat", ["IxMp", "IwFl", "IxF2", "ilar"], d, 800, "L2", ids=ids, vecs=x)

    # IVFFlatDedup: duplicates are stored once plus (stored id, duplicate id) pairs; faiss cannot reconstruct it
    q = faiss.IndexFlatL2(d)
    idx = faiss.IndexIVFFlatDedup(q, d, 8)
    train_ivf(idx, 26)
    base = data(300, d, 27)
    x = np.vstack([base, base[:40], base[10:30], base[:5]]).astype("float32")
    ids = unique_ids(len(x), 28)
    idx.add_with_ids(x, ids)
    faiss.write_index(idx, path("ivfflat_dedup"))
    add("ivfflat_dedup", ["IwFd", "IxF2", "ilar"], d, idx.ntotal, "L2", ids=ids, vecs=x,
        note="truth is the input data: faiss cannot reconstruct IVFFlatDedup")

    # legacy IvFl (faiss <= 2018), written by hand from an IVFFlat: header, ids per list, direct map, codes per list
    q = faiss.IndexFlatL2(d)
    idx = faiss.IndexIVFFlat(q, d, 8)
    train_ivf(idx, 29)
    x = data(400, d, 30)
    ids = unique_ids(400, 31)
    idx.add_with_ids(x, ids)
    faiss.write_index(idx, path("tmp_ivf"))
    raw = open(path("tmp_ivf"), "rb").read()
    os.remove(path("tmp_ivf"))
    quantizer_end = 4 + 33 + 16 + (4 + 33 + 8 + 8 * d * 4)
    out = bytearray(b"IvFl" + raw[4:quantizer_end])
    il = idx.invlists
    lists = []
    for l in range(il.nlist):
        n = il.list_size(l)
        lids = faiss.rev_swig_ptr(il.get_ids(l), n).copy() if n else np.zeros(0, "int64")
        codes = faiss.rev_swig_ptr(il.get_codes(l), n * il.code_size).copy() if n else np.zeros(0, "uint8")
        lists.append((lids, codes))
        out += struct.pack("<Q", n) + lids.astype("<i8").tobytes()
    out += b"\x00" + struct.pack("<Q", 0)  # direct map: none, empty array
    for lids, codes in lists:
        out += struct.pack("<Q", len(codes) // 4) + codes.tobytes()
    open(path("ivfflat_legacy"), "wb").write(out)
    kept = list_ids(il)
    add("ivfflat_legacy", ["IvFl", "IxF2"], d, 400, "L2", ids=kept, vecs=ivf_truth(idx, kept), synthetic=True,
        note="legacy layout written by this script from faiss's own lists")


def ondisk_fixture(name, relative):
    d = 16
    q = faiss.IndexFlatL2(d)
    idx = faiss.IndexIVFFlat(q, d, 8)
    train_ivf(idx, 40)
    workdir = tempfile.mkdtemp(prefix="faiss_ondisk_")
    data_name = name + ".ivfdata"
    if os.path.exists(path(name, ".ivfdata")):
        os.remove(path(name, ".ivfdata"))  # OnDiskInvertedLists would append to a file left by an earlier run
    cwd = os.getcwd()
    try:
        if relative:
            os.chdir(OUT)
            data_path = data_name
        else:
            data_path = os.path.join(workdir, data_name)
        invlists = faiss.OnDiskInvertedLists(idx.nlist, idx.code_size, data_path)
        idx.replace_invlists(invlists, False)
        KEEP_ALIVE.append(invlists)
        x = data(900, d, 41)
        ids = unique_ids(900, 42)
        idx.add_with_ids(x, ids)
        faiss.write_index(idx, path(name))
        kept = list_ids(idx.invlists)
        vecs = ivf_truth(idx, kept)
    finally:
        os.chdir(cwd)
    if not relative:
        shutil.move(os.path.join(workdir, data_name), path(name, ".ivfdata"))
    shutil.rmtree(workdir, ignore_errors=True)
    add(name, ["IwFl", "IxF2", "ilod"], d, 900, "L2", ids=kept, vecs=vecs, extra_files=[data_name],
        note="stored path relative" if relative else "stored absolute path missing, data file beside the index")


def hnsw_refine_fixtures():
    d = 16
    idx = faiss.IndexHNSWFlat(d, 8)
    x = data(1000, d, 50)
    idx.add(x)
    faiss.write_index(idx, path("hnsw_flat"))
    add("hnsw_flat", ["IHNf", "IxF2"], d, 1000, "L2", ids=np.arange(1000), vecs=idx.reconstruct_n(0, 1000))

    idx = faiss.IndexHNSWFlat(d, 8, faiss.METRIC_INNER_PRODUCT)
    x = data(300, d, 51)
    idx.add(x)
    faiss.write_index(idx, path("hnsw_flat_ip"))
    add("hnsw_flat_ip", ["IHNf", "IxFI"], d, 300, "IP", ids=np.arange(300), vecs=idx.reconstruct_n(0, 300))

    # the OpenSearch k-NN layout: IDMap over HNSW over Flat
    idx = faiss.IndexIDMap(faiss.IndexHNSWFlat(d, 8))
    x = data(600, d, 52)
    ids = unique_ids(600, 53)
    idx.add_with_ids(x, ids)
    faiss.write_index(idx, path("idmap_hnsw"))
    inner = faiss.downcast_index(idx.index)
    add("idmap_hnsw", ["IxMp", "IHNf", "IxF2"], d, 600, "L2", ids=faiss.vector_to_array(idx.id_map),
        vecs=inner.reconstruct_n(0, 600))

    base = faiss.IndexPQ(d, 4, 6)
    idx = faiss.IndexRefineFlat(base)
    idx.train(data(1000, d, 54))
    x = data(400, d, 55)
    idx.add(x)
    faiss.write_index(idx, path("refine_flat"))
    add("refine_flat", ["IxRF", "IxPq", "IxF2"], d, 400, "L2", ids=np.arange(400), vecs=idx.reconstruct_n(0, 400))


# ---------------------------------------------------------------------------------------------------------------
# Binary indexes


def binary_fixtures():
    x = bits(500, 64, 60)
    idx = faiss.IndexBinaryFlat(64)
    idx.add(x)
    faiss.write_index_binary(idx, path("bin_flat"))
    add("bin_flat", ["IBxF"], 64, 500, "HAMMING", vector_type="binary", ids=np.arange(500),
        vecs=np.vstack([idx.reconstruct(i) for i in range(500)]))

    for name, cls, fourcc in (("bin_idmap", faiss.IndexBinaryIDMap, "IBMp"),
                              ("bin_idmap2", faiss.IndexBinaryIDMap2, "IBM2")):
        x = bits(400, 256, 61)
        ids = unique_ids(400, 62)
        idx = cls(faiss.IndexBinaryFlat(256))
        idx.add_with_ids(x, ids)
        idx.remove_ids(np.ascontiguousarray(ids[::9]))
        faiss.write_index_binary(idx, path(name))
        inner = faiss.downcast_IndexBinary(idx.index)
        n = idx.ntotal
        add(name, [fourcc, "IBxF"], 256, n, "HAMMING", vector_type="binary", ids=faiss.vector_to_array(idx.id_map),
            vecs=np.vstack([inner.reconstruct(i) for i in range(n)]))

    q = faiss.IndexBinaryFlat(64)
    idx = faiss.IndexBinaryIVF(q, 64, 8)
    idx.train(bits(1000, 64, 63))
    x = bits(700, 64, 64)
    ids = unique_ids(700, 65)
    idx.add_with_ids(x, ids)
    faiss.write_index_binary(idx, path("bin_ivf"))
    kept = list_ids(idx.invlists)
    add("bin_ivf", ["IBwF", "IBxF", "ilar"], 64, 700, "HAMMING", vector_type="binary", ids=kept,
        vecs=ivf_truth(idx, kept))

    idx = faiss.IndexBinaryHNSW(64, 8)
    x = bits(500, 64, 66)
    idx.add(x)
    faiss.write_index_binary(idx, path("bin_hnsw"))
    add("bin_hnsw", ["IBHf", "IBxF"], 64, 500, "HAMMING", vector_type="binary", ids=np.arange(500),
        vecs=np.vstack([idx.reconstruct(i) for i in range(500)]))


# ---------------------------------------------------------------------------------------------------------------
# Lossy indexes: scalar and product quantizers, residual IVF, pre-transforms


SQ_TYPES = [
    ("8bit", faiss.ScalarQuantizer.QT_8bit, 16),
    ("4bit", faiss.ScalarQuantizer.QT_4bit, 15),
    ("8bit_uniform", faiss.ScalarQuantizer.QT_8bit_uniform, 16),
    ("4bit_uniform", faiss.ScalarQuantizer.QT_4bit_uniform, 16),
    ("fp16", faiss.ScalarQuantizer.QT_fp16, 16),
    ("8bit_direct", faiss.ScalarQuantizer.QT_8bit_direct, 16),
    ("6bit", faiss.ScalarQuantizer.QT_6bit, 15),
]


def sq_fixtures():
    for label, qt, d in SQ_TYPES:
        idx = faiss.IndexScalarQuantizer(d, qt)
        x = data(300, d, 70)
        if label == "8bit_direct":
            x = np.random.default_rng(71).integers(0, 256, size=(300, d)).astype("float32")
        idx.train(x)
        idx.add(x)
        name = "sq_" + label
        faiss.write_index(idx, path(name))
        exact = label == "8bit_direct"
        add(name, ["IxSQ"], d, 300, "L2", ids=np.arange(300), vecs=idx.reconstruct_n(0, 300), exact=exact,
            tolerance=0 if exact else 1e-6)
        if label in ("fp16", "8bit_direct"):
            # bf16 and 8bit_direct_signed arrived after faiss 1.7.3: patch the qtype of an fp16 / 8bit_direct file
            # (same code sizes) and derive the truth from the stored codes with numpy
            raw = bytearray(open(path(name), "rb").read())
            qt_at = 4 + 33
            assert struct.unpack_from("<i", raw, qt_at)[0] == qt
            codes = faiss.vector_to_array(idx.codes)
            if label == "fp16":
                struct.pack_into("<i", raw, qt_at, 7)
                u16 = codes.view("<u2").reshape(300, d).astype("uint32")
                truth = (u16 << 16).view("float32")
                new = "sq_bf16"
            else:
                struct.pack_into("<i", raw, qt_at, 8)
                truth = codes.reshape(300, d).astype("float32") - 128
                new = "sq_8bit_direct_signed"
            open(path(new), "wb").write(raw)
            add(new, ["IxSQ"], d, 300, "L2", ids=np.arange(300), vecs=truth, exact=(new != "sq_bf16"),
                tolerance=0 if new != "sq_bf16" else 1e-6, synthetic=True,
                note="qtype patched into a faiss 1.7.3 file; truth from the codes")

    d = 16
    for name, by_residual, qt in (("ivfsq_residual", True, faiss.ScalarQuantizer.QT_8bit),
                                  ("ivfsq_plain", False, faiss.ScalarQuantizer.QT_4bit),
                                  ("ivfsq_6bit", True, faiss.ScalarQuantizer.QT_6bit)):
        q = faiss.IndexFlatL2(d)
        idx = faiss.IndexIVFScalarQuantizer(q, d, 8, qt, faiss.METRIC_L2, by_residual)
        train_ivf(idx, 72)
        x = data(800, d, 73)
        ids = unique_ids(800, 74)
        idx.add_with_ids(x, ids)
        faiss.write_index(idx, path(name))
        kept = list_ids(idx.invlists)
        add(name, ["IwSq", "IxF2", "ilar"], d, 800, "L2", ids=kept, vecs=ivf_truth(idx, kept), exact=False,
            tolerance=1e-6)
        if name == "ivfsq_residual":
            # the older IwSQ fourcc has no by_residual byte (always residual): drop it from the file
            raw = bytearray(open(path(name), "rb").read())
            quantizer_end = 4 + 33 + 16 + (4 + 33 + 8 + 8 * d * 4)
            dm_end = quantizer_end + 1 + 8
            sq_end = dm_end + 4 + 4 + 4 + 8 + 8 + 8 + 4 * 2 * d
            by_res_at = sq_end + 8
            assert raw[by_res_at] == 1
            patched = b"IwSQ" + raw[4:by_res_at] + raw[by_res_at + 1:]
            open(path("ivfsq_legacy"), "wb").write(patched)
            add("ivfsq_legacy", ["IwSQ", "IxF2", "ilar"], d, 800, "L2", ids=kept, vecs=ivf_truth(idx, kept),
                exact=False, tolerance=1e-6, synthetic=True, note="IwSq file rewritten in the older IwSQ layout")


def pq_fixtures():
    d = 16
    for name, m, nbits in (("pq_8bit", 4, 8), ("pq_5bit", 3, 5), ("pq_9bit", 2, 9), ("pq_4bit", 8, 4)):
        dd = 15 if m == 3 else d
        idx = faiss.IndexPQ(dd, m, nbits)
        idx.train(data(max(1200, 2**nbits * 2), dd, 80))
        idx.add(data(300, dd, 81))
        faiss.write_index(idx, path(name))
        add(name, ["IxPq"], dd, 300, "L2", ids=np.arange(300), vecs=idx.reconstruct_n(0, 300), exact=False,
            tolerance=1e-6)

    # nbits 16 (uint16 codes): set the centroids by hand instead of training 65536 of them
    idx = faiss.IndexPQ(d, 2, 16)
    cent = data(2 * 65536, 8, 82).reshape(-1)
    faiss.copy_array_to_vector(cent, idx.pq.centroids)
    idx.is_trained = True
    idx.add(data(200, d, 83))
    faiss.write_index(idx, path("pq_16bit"))
    add("pq_16bit", ["IxPq"], d, 200, "L2", ids=np.arange(200), vecs=idx.reconstruct_n(0, 200), exact=False,
        tolerance=1e-6)

    # the older IxPQ fourcc: no trailing search fields
    raw = open(path("pq_8bit"), "rb").read()
    open(path("pq_legacy"), "wb").write(b"IxPQ" + raw[4:-9])
    idx = faiss.read_index(path("pq_legacy"))
    add("pq_legacy", ["IxPQ"], d, 300, "L2", ids=np.arange(300), vecs=idx.reconstruct_n(0, 300), exact=False,
        tolerance=1e-6, synthetic=True, note="IxPq file rewritten in the older IxPQ layout")

    for name, by_residual, nbits in (("ivfpq_residual", True, 8), ("ivfpq_plain", False, 8),
                                     ("ivfpq_6bit", True, 6)):
        q = faiss.IndexFlatL2(d)
        idx = faiss.IndexIVFPQ(q, d, 8, 4, nbits)
        idx.by_residual = by_residual
        train_ivf(idx, 84)
        x = data(700, d, 85)
        ids = unique_ids(700, 86)
        idx.add_with_ids(x, ids)
        faiss.write_index(idx, path(name))
        kept = list_ids(idx.invlists)
        add(name, ["IwPQ", "IxF2", "ilar"], d, 700, "L2", ids=kept, vecs=ivf_truth(idx, kept), exact=False,
            tolerance=1e-6)

    idx = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, 8)
    x = data(300, d, 87)
    idx.train(x)
    idx.add(x)
    faiss.write_index(idx, path("hnsw_sq"))
    add("hnsw_sq", ["IHNs", "IxSQ"], d, 300, "L2", ids=np.arange(300), vecs=idx.reconstruct_n(0, 300), exact=False,
        tolerance=1e-6)

    idx = faiss.IndexHNSWPQ(d, 4, 8)
    x = data(1200, d, 88)
    idx.train(x)
    idx.add(x[:300])
    faiss.write_index(idx, path("hnsw_pq"))
    add("hnsw_pq", ["IHNp", "IxPq"], d, 300, "L2", ids=np.arange(300), vecs=idx.reconstruct_n(0, 300),
        exact=False, tolerance=1e-6)


def transform_fixtures():
    d = 16
    cases = [
        ("pt_pca", "PCA16,Flat", ["IxPT", "Pcam", "IxF2"], d),
        ("pt_pcar", "PCAR16,Flat", ["IxPT", "Pcam", "IxF2"], d),
        ("pt_pca_reduce", "PCA8,Flat", ["IxPT", "Pcam", "IxF2"], d),
        ("pt_rrot", "RR16,Flat", ["IxPT", "rrot", "IxF2"], d),
        ("pt_l2norm", "L2norm,Flat", ["IxPT", "VNrm", "IxF2"], d),
        ("pt_rrot_ivfflat", "RR16,IVF8,Flat", ["IxPT", "rrot", "IwFl", "IxF2", "ilar"], d),
    ]
    for name, factory, tree, dd in cases:
        idx = faiss.index_factory(dd, factory)
        x = data(1200, dd, 90)
        idx.train(x)
        idx.add(x[:400])
        faiss.write_index(idx, path(name))
        ivf = faiss.try_extract_index_ivf(idx)
        if ivf is not None:
            ivf.set_direct_map_type(faiss.DirectMap.Array)
        add(name, tree, dd, 400, "L2", ids=np.arange(400), vecs=idx.reconstruct_n(0, 400), exact=False,
            tolerance=2e-6)

    # a generic LinearTransform (what OPQ writes) with a bias, over IVFPQ; an orthogonal matrix set by hand
    # because training OPQ takes seconds
    lt = faiss.LinearTransform(d, d, True)
    a, _ = np.linalg.qr(np.random.default_rng(93).standard_normal((d, d)))
    faiss.copy_array_to_vector(a.astype("float32").reshape(-1), lt.A)
    faiss.copy_array_to_vector(data(1, d, 94).reshape(-1), lt.b)
    lt.is_trained = True
    lt.set_is_orthonormal()
    assert lt.is_orthonormal
    q = faiss.IndexFlatL2(d)
    inner = faiss.IndexIVFPQ(q, d, 8, 4, 8)
    idx = faiss.IndexPreTransform(lt, inner)
    x = data(1200, d, 95)
    idx.train(x)
    idx.add(x[:400])
    faiss.write_index(idx, path("pt_ltra_ivfpq"))
    inner.set_direct_map_type(faiss.DirectMap.Array)
    add("pt_ltra_ivfpq", ["IxPT", "LTra", "IwPQ", "IxF2", "ilar"], d, 400, "L2", ids=np.arange(400),
        vecs=idx.reconstruct_n(0, 400), exact=False, tolerance=2e-6)
    KEEP_ALIVE.extend([lt, q, inner])

    # a centering transform and a dimension remap, chained
    ct = faiss.CenteringTransform(d)
    x = data(300, d, 91)
    ct.train(x)
    rm = faiss.RemapDimensionsTransform(d, d, False)
    perm = np.random.default_rng(92).permutation(d).astype("int32")
    faiss.copy_array_to_vector(perm, rm.map)
    inner = faiss.IndexFlatL2(d)
    idx = faiss.IndexPreTransform(inner)
    idx.prepend_transform(rm)
    idx.prepend_transform(ct)
    idx.add(x)
    faiss.write_index(idx, path("pt_center_remap"))
    add("pt_center_remap", ["IxPT", "VCnt", "RmDT", "IxF2"], d, 300, "L2", ids=np.arange(300),
        vecs=idx.reconstruct_n(0, 300), exact=False, tolerance=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# Unsupported indexes: the reader must name them


def unsupported_fixtures():
    d = 16
    x = data(600, d, 100)

    def unsupported(name, index, tree, write=faiss.write_index, dim=d, metric="L2"):
        write(index, path(name))
        add(name, tree, dim, int(index.ntotal), metric, expect="unsupported")

    idx = faiss.IndexLSH(d, 32)
    idx.train(x)
    idx.add(x[:100])
    unsupported("lsh", idx, ["IxHe"])

    idx = faiss.IndexPQFastScan(d, 4, 4)
    idx.train(x)
    idx.add(x[:100])
    unsupported("pq_fastscan", idx, ["IPfs"])

    q = faiss.IndexFlatL2(d)
    idx = faiss.IndexIVFPQFastScan(q, d, 4, 4, 4)
    idx.train(x)
    idx.add(x[:100])
    unsupported("ivfpq_fastscan", idx, ["IwPf"])

    idx = faiss.IndexNSGFlat(d, 8)
    idx.add(x[:200])
    unsupported("nsg", idx, ["INSf"])

    idx = faiss.index_factory(d, "RQ2x4")
    idx.train(x)
    idx.add(x[:100])
    unsupported("rq", idx, ["IxRq"])

    q = faiss.IndexFlatL2(d)
    idx = faiss.IndexIVFFlat(q, d, 4)
    idx.train(x)
    idx.replace_invlists(None, False)
    unsupported("ivf_il00", idx, ["IwFl", "IxF2", "il00"])

    idx = faiss.index_factory(d, "PCAW16,Flat")
    idx.train(x)
    idx.add(x[:100])
    unsupported("pt_pcaw", idx, ["IxPT", "Pcam", "IxF2"])

    idx = faiss.IndexBinaryHash(64, 8)
    idx.add(bits(100, 64, 101))
    unsupported("bin_hash", idx, ["IBHh"], write=faiss.write_index_binary, dim=64, metric="HAMMING")

    open(path("unknown_fourcc"), "wb").write(b"Zq9!" + bytes(64))
    add("unknown_fourcc", ["Zq9!"], 0, 0, "L2", expect="unsupported", synthetic=True)


def main():
    global OUT
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    OUT = os.path.abspath(sys.argv[1])
    os.makedirs(OUT, exist_ok=True)
    faiss.omp_set_num_threads(1)  # deterministic k-means, and quick on small data
    start = time.time()
    flat_fixtures()
    ivf_fixtures()
    hnsw_refine_fixtures()
    binary_fixtures()
    sq_fixtures()
    pq_fixtures()
    transform_fixtures()
    unsupported_fixtures()
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"faissVersion": faiss.__version__, "fixtures": MANIFEST}, f, indent=1)
    print(f"wrote {len(MANIFEST)} faiss fixtures to {OUT} in {time.time() - start:.1f}s")


if __name__ == "__main__":
    main()
