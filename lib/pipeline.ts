/**
 * The pipeline core: sources' batches → the Milvus writer, with memory bounded by batch size × inserts in flight,
 * and progress reported per unit (file, segment, partition).
 *
 * @module
 */
import { MilvusdmError, throwIfAborted } from "./errors.ts";
import type { MilvusConnection } from "./milvus/connection.ts";
import { MilvusWriter, type PreparedTarget } from "./milvus/sink.ts";
import { type Batch, bytesPerVector, type VectorSource } from "./types.ts";
import { type Journal, UnitTracker } from "./journal.ts";

/** Default bytes of vectors per insert request: well under the server's 64 MiB limit. */
export const DEFAULT_BATCH_BYTES = 4 * 1024 * 1024;
/** Default inserts in flight. */
export const DEFAULT_IN_FLIGHT = 2;
/** The server refuses requests over 64 MiB; leave room for ids and framing. */
export const MAX_BATCH_BYTES = 48 * 1024 * 1024;

/** A progress report. */
export interface ProgressEvent {
  /** The unit being read: a file, a segment, a partition. */
  unit: string;
  /** Rows of this unit acknowledged so far. */
  unitRowsDone: number;
  /** Rows of this unit. */
  unitRows: number;
  /** Rows acknowledged in the whole job. */
  rowsDone: number;
  /** Rows the whole job will send. */
  rowsTotal: number;
  /** Vector bytes acknowledged in the whole job. */
  bytesDone: number;
  /** Seconds since the job started. */
  elapsedSeconds: number;
}

/** Options shared by every load into Milvus. */
export interface LoadOptions {
  /** Bytes of vectors per insert (default 4 MiB, at most 48 MiB). */
  batchBytes?: number;
  /** Inserts in flight (default 2). */
  inFlight?: number;
  /** Stops the load between batches. */
  signal?: AbortSignal;
  /** Called after each acknowledged batch. */
  onProgress?: (event: ProgressEvent) => void;
  /** Called with retries and other warnings. */
  onWarning?: (message: string) => void;
}

/** One unit of a load: a named source. */
export interface LoadUnit {
  /** Name shown in progress and kept in the journal (a file path, `collection/partition`). */
  name: string;
  /** The source, opened. */
  source: VectorSource;
  /** Identity of the unit's bytes (paths, sizes, mtimes, row counts), for the journal. */
  fingerprint?: string;
}

/** What a load did. */
export interface LoadResult {
  /** Rows acknowledged in this run. */
  rowsSent: number;
  /** Rows skipped because an earlier, interrupted run had already stored them. */
  rowsSkipped: number;
  /** Rows re-sent as upserts because an interrupted run may have stored them. */
  rowsUpserted: number;
}

/** Rows per batch for a byte budget. */
export function rowsPerBatch(bytesPerRow: number, batchBytes = DEFAULT_BATCH_BYTES): number {
  if (!(batchBytes > 0)) throw new MilvusdmError("CONFIG_INVALID", `batch_bytes must be positive, got ${batchBytes}`);
  const budget = Math.min(batchBytes, MAX_BATCH_BYTES);
  if (bytesPerRow > MAX_BATCH_BYTES) {
    throw new MilvusdmError("SOURCE_UNSUPPORTED", `One vector takes ${bytesPerRow} bytes, over the server's limit`);
  }
  return Math.max(1, Math.floor(budget / bytesPerRow));
}

/**
 * Streams every unit's batches into the prepared target, in order. With a journal, each unit's durable prefix is
 * skipped, rows an interrupted run may have stored are sent as upserts, and progress is recorded as the target
 * acknowledges it. The caller closes the sources.
 */
export async function loadUnits(
  conn: MilvusConnection,
  prepared: PreparedTarget,
  units: LoadUnit[],
  options: LoadOptions = {},
  journal?: Journal,
): Promise<LoadResult> {
  const started = performance.now();
  const rowsTotal = units.reduce((n, u) => n + u.source.info.rows, 0);
  const { vectorType, dim } = prepared.schema;
  const rowBytes = bytesPerVector(vectorType, dim);
  const maxRows = rowsPerBatch(rowBytes, options.batchBytes);
  let rowsDone = 0;
  let rowsSkipped = 0;
  let rowsUpserted = 0;
  // Progress is counted to the unit a batch came from, even when it is acknowledged after the next unit began.
  const emit = (owner: { name: string; done: number; rows: number }, rows: number) => {
    rowsDone += rows;
    owner.done += rows;
    options.onProgress?.({
      unit: owner.name,
      unitRowsDone: Math.min(owner.done, owner.rows),
      unitRows: owner.rows,
      rowsDone: rowsDone + rowsSkipped,
      rowsTotal,
      bytesDone: (rowsDone + rowsSkipped) * rowBytes,
      elapsedSeconds: (performance.now() - started) / 1000,
    });
  };
  const writer = new MilvusWriter(conn, prepared.schema, {
    inFlight: options.inFlight ?? DEFAULT_IN_FLIGHT,
    signal: options.signal,
    onRetry: options.onWarning,
    maxRows,
  });
  let warnedNoIds = false;
  const trackers: UnitTracker[] = [];
  try {
    for (const unit of units) {
      throwIfAborted(options.signal);
      const rows = unit.source.info.rows;
      const current = { name: unit.name, done: 0, rows };
      const tracker = journal
        ? new UnitTracker(journal, journal.unit(unit.name, rows, unit.fingerprint ?? `${rows}`))
        : null;
      if (tracker) trackers.push(tracker);
      const skipTo = tracker?.durable ?? 0;
      const doubtTo = tracker?.inDoubtUpTo ?? 0;
      if (skipTo > 0) {
        rowsSkipped += skipTo;
        current.done += skipTo;
      }
      let pos = 0;
      // Sources read into the writer's request buffers where they can (no copy, nothing allocated per batch).
      for await (const whole of unit.source.batches(maxRows, options.signal, writer.allocate)) {
        const start = pos;
        pos += whole.rows;
        if (whole.rows === 0 || pos <= skipTo) {
          writer.recycle(whole);
          continue;
        }
        // Trim the rows already durable, and split at the end of the in-doubt range.
        let batch = start < skipTo ? sliceBatch(whole, skipTo - start, whole.rows) : whole;
        let at = Math.max(start, skipTo);
        while (batch.rows > 0) {
          const cut = at < doubtTo ? Math.min(batch.rows, doubtTo - at) : batch.rows;
          const part = cut === batch.rows ? batch : sliceBatch(batch, 0, cut);
          const upsert = at < doubtTo;
          if (upsert) {
            if (part.ids === null && !warnedNoIds) {
              warnedNoIds = true;
              options.onWarning?.(
                `"${unit.name}" has no ids to upsert by: rows ${at}..${doubtTo} that the interrupted run may have ` +
                  `stored are sent again and may be duplicated`,
              );
            }
            rowsUpserted += part.rows;
          }
          const partStart = at;
          const partRows = part.rows;
          tracker?.sending(partStart, partStart + partRows);
          await writer.write(part, {
            upsert,
            origin: { unit: unit.name, firstRow: partStart },
            onAcknowledged: () => {
              tracker?.acknowledged(partStart);
              emit(current, partRows);
            },
          });
          at += part.rows;
          batch = cut === batch.rows ? { ...batch, rows: 0 } : sliceBatch(batch, cut, batch.rows);
        }
        writer.recycle(whole);
      }
    }
    await writer.drain();
    for (const t of trackers) t.settle();
    journal?.saveIfChanged();
  } catch (error) {
    // Let what is in flight settle (the journal records it), then report the first failure.
    await writer.drain().catch(() => {});
    try {
      for (const t of trackers) t.settle();
      journal?.saveIfChanged();
    } catch {
      // The first failure is the one to report.
    }
    throw error;
  }
  return { rowsSent: writer.rowsAcknowledged, rowsSkipped, rowsUpserted };
}

/** Rows [from, to) of a batch, as views. */
export function sliceBatch(batch: Batch, from: number, to: number): Batch {
  const per = batch.vectors.length / batch.rows;
  return {
    ids: batch.ids ? batch.ids.subarray(from, to) : null,
    vectors: batch.vectors.subarray(from * per, to * per),
    dim: batch.dim,
    rows: to - from,
  };
}
