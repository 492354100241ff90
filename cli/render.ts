/**
 * Human-readable text of plans, inspections and verification reports, and the number formats the CLI shares.
 *
 * @module
 */
import type { Inspection } from "../lib/inspect.ts";
import type { TaskPlan } from "../lib/plan.ts";
import type { VerifyReport } from "../lib/verify.ts";

/** A text table; columns listed in `right` are right-aligned. */
export function table(rows: string[][], right: number[] = []): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) =>
    r.map((c, i) => (right.includes(i) ? (c ?? "").padStart(widths[i]) : (c ?? "").padEnd(widths[i]))).join("  ")
      .trimEnd()
  ).join("\n");
}

/** `1,234,567`. */
export function fmtCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** `1.5 MB` (decimal units, as MB/s). */
export function fmtBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** `42s`, `3m05s`, `2h10m`, `?` when unknown. */
export function fmtSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

const ACTION_WORDS: Record<string, string> = {
  create: "create",
  append: "append to",
  overwrite: "drop and recreate",
  skip: "skip (leave as it is)",
};

/** The text of `milvusdm plan`. */
export function renderPlan(plan: TaskPlan, file: string): string {
  const lines: string[] = [];
  lines.push(`Plan of ${plan.job} (${file}): nothing has been written`);
  lines.push("");
  lines.push(
    `Source: ${plan.sourceKind}, ${plan.units.length} unit${plan.units.length === 1 ? "" : "s"}, ` +
      `${fmtCount(plan.rows)} rows, ${fmtBytes(plan.vectorBytes)} of vectors (${fmtBytes(plan.bytes)} on disk)`,
  );
  lines.push(
    table([
      ["unit", "rows", "vectors", "metric", "ids", "on disk", "batches", "what"],
      ...plan.units.map((u) => [
        u.name,
        fmtCount(u.rows),
        `${u.vectorType} × ${u.dim}`,
        u.metric ?? "-",
        u.hasIds ? "yes" : "no",
        fmtBytes(u.bytes),
        fmtCount(u.batches),
        u.description,
      ]),
    ], [1, 5, 6]).replace(/^/gm, "  "),
  );
  lines.push("");
  lines.push(`Target: ${plan.destination}`);
  lines.push(
    table([
      ["collection", "partition", "action", "rows", "vectors", "metric", "why"],
      ...plan.targets.map((t) => [
        t.collection,
        t.partition,
        plan.job === "M2H" ? "write" : ACTION_WORDS[t.action] ?? t.action,
        fmtCount(t.rows),
        `${t.vectorType} × ${t.dim}`,
        t.metric,
        t.reason,
      ]),
    ], [3]).replace(/^/gm, "  "),
  );
  lines.push("");
  if (plan.job === "M2H") {
    lines.push(`Slices: ${fmtCount(plan.batches)} of at most ${fmtBytes(plan.batchBytes)} of vectors`);
  } else {
    const count = { create: 0, append: 0, overwrite: 0, skip: 0 };
    for (const t of plan.targets) count[t.action]++;
    const parts = Object.entries(count).filter(([, n]) => n > 0).map(([a, n]) => `${n} ${a}`);
    lines.push(`Targets: ${parts.join(", ")}`);
    if (plan.writePath?.path === "import") {
      lines.push(`Write path: the server's bulk import (NumPy file sets): ${plan.writePath.reason}`);
    } else {
      if (plan.writePath) lines.push(`Write path: insert requests: ${plan.writePath.reason}`);
      lines.push(
        `Inserts: ${fmtCount(plan.batches)}${
          plan.sourceKind === "Faiss" ? " or more (IVF lists are sent apart)" : ""
        } ` +
          `of at most ${fmtBytes(plan.batchBytes)} of vectors, ${plan.inFlight} in flight`,
      );
    }
    lines.push(`Index: ${plan.index} (built after the load when a collection has none; then the collection is loaded)`);
  }
  return lines.join("\n");
}

/** The text of `milvusdm inspect`. */
export function renderInspection(report: Inspection): string {
  const lines: string[] = [];
  if (report.kind === "faiss") {
    const f = report.faiss;
    lines.push(`${report.path}: Faiss index, ${fmtBytes(report.bytes)}`);
    lines.push(
      table([
        ["structure", f.description],
        ["vectors", `${fmtCount(f.ntotal)} ${f.vectorType} × ${f.dim}`],
        ["metric", f.metric + (f.metricArg !== undefined ? ` (arg ${f.metricArg})` : "")],
        ["exact", f.exact ? "yes: the stored vectors, bit for bit" : `no: ${f.lossyReasons.join("; ")}`],
      ]).replace(/^/gm, "  "),
    );
    lines.push("  tree:");
    for (const node of f.tree) lines.push(`    ${node}`);
    if (!f.exact) lines.push("  F2M needs allow_lossy: true (or --allow-lossy) to export its reconstructions");
    return lines.join("\n");
  }
  if (report.kind === "hdf5") {
    lines.push(`${report.path}: HDF5 file, ${fmtBytes(report.bytes)}`);
    lines.push(
      table([
        ["dataset", "shape", "dtype"],
        ...report.datasets.map((d) => [d.name, `[${d.shape.join(", ")}]`, d.dtype]),
      ]).replace(/^/gm, "  "),
    );
    const attrs = Object.entries(report.attributes);
    if (attrs.length > 0) {
      lines.push("  attributes:");
      for (const [k, v] of attrs) lines.push(`    ${k}: ${typeof v === "string" ? JSON.stringify(v) : v}`);
    }
    if (report.source) {
      const s = report.source;
      lines.push(
        `  H2M reads: ${fmtCount(s.rows)} ${s.vectorType} vectors × ${s.dim} from "${s.embeddings}" (${s.dtype}), ` +
          (s.annBenchmarks
            ? "ids = row numbers (ann-benchmarks layout)"
            : s.ids
            ? `ids from "${s.ids}"`
            : "no ids (Milvus will generate them)") +
          `, metric ${s.metric ?? "not recorded"}`,
      );
    } else if (report.problem) {
      lines.push(`  H2M cannot read it: [${report.problem.code}] ${report.problem.message}`);
    }
    return lines.join("\n");
  }
  const m = report.milvus1;
  lines.push(
    `${report.path}: Milvus 1.x data directory (${m.backend} metadata at ${m.metaLocation}), ` +
      `${m.collections.length} collection${m.collections.length === 1 ? "" : "s"}`,
  );
  const rows: string[][] = [[
    "collection",
    "partition",
    "vectors",
    "metric",
    "index",
    "segments",
    "live rows",
    "deleted",
    "size",
  ]];
  for (const c of m.collections) {
    rows.push([
      c.name,
      "",
      `${c.vectorType} × ${c.dim}`,
      c.metric,
      c.indexType,
      String(c.partitions.reduce((n, p) => n + p.segments.length, 0)),
      fmtCount(c.liveRows),
      fmtCount(c.deletedRows),
      fmtBytes(c.bytes),
    ]);
    for (const p of c.partitions) {
      rows.push([
        "",
        p.tag ?? "_default",
        "",
        "",
        "",
        String(p.segments.length),
        fmtCount(p.liveRows),
        fmtCount(p.deletedRows),
        fmtBytes(p.bytes),
      ]);
    }
  }
  lines.push(table(rows, [5, 6, 7, 8]).replace(/^/gm, "  "));
  const broken = m.collections.flatMap((c) =>
    c.partitions.flatMap((p) =>
      p.segments.filter((s) => s.error).map((s) =>
        `  segment ${s.segmentId} (${c.name}/${p.tag ?? "_default"}): [${s.error!.code}] ${s.error!.message}`
      )
    )
  );
  if (broken.length > 0) {
    lines.push(`${broken.length} segment${broken.length === 1 ? "" : "s"} cannot be read:`);
    lines.push(...broken);
  }
  return lines.join("\n");
}

/** The text of `milvusdm verify`. */
export function renderVerify(report: VerifyReport, file: string): string {
  const lines: string[] = [];
  const sample = report.sample === "all" ? "every row" : `a sample of up to ${fmtCount(report.sample)} rows per target`;
  lines.push(`Verification of ${report.job} (${file}): counts, and ${sample} compared by id (seed ${report.seed})`);
  lines.push(
    table([
      ["collection", "partition", "source rows", "target rows", "compared", "missing", "different", "result"],
      ...report.targets.map((t) => [
        t.collection,
        t.partition,
        fmtCount(t.sourceRows),
        t.targetRows === null ? "-" : fmtCount(t.targetRows),
        t.comparedById ? fmtCount(t.compared) : "no ids",
        fmtCount(t.missing),
        fmtCount(t.different),
        t.ok ? "ok" : "DIFFERENT",
      ]),
    ], [2, 3, 4, 5, 6]).replace(/^/gm, "  "),
  );
  for (const t of report.targets) {
    for (const note of t.notes) lines.push(`  ${t.collection}/${t.partition}: ${note}`);
    if (t.differences.length > 0) {
      const total = t.missing + t.different;
      lines.push(
        `  ${t.collection}/${t.partition}: first ${t.differences.length} of ${fmtCount(total)} differing rows:`,
      );
      for (const d of t.differences) {
        lines.push(
          `    id ${d.id} (${d.unit}, row ${d.row}): ${d.kind === "missing" ? "missing from the target" : d.detail}`,
        );
      }
    }
  }
  lines.push(
    report.ok
      ? `${report.job}: source and target agree (${report.seconds.toFixed(1)} s)`
      : `${report.job}: source and target differ (${report.seconds.toFixed(1)} s)`,
  );
  return lines.join("\n");
}
