/**
 * The pipeline core: sources' batches → the Milvus writer, with memory bounded by batch size × inserts in flight,
 * and progress reported per unit (file, segment, partition).
 *
 * @module
 */
import { MilvusdmError, throwIfAborted } from "./errors.ts";
import type { MilvusConnection } from "./milvus/connection.ts";
import { MilvusWriter, type PreparedTarget } from "./milvus/sink.ts";
import { bytesPerVector, type VectorSource } from "./types.ts";

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
  /** Name shown in progress (a file path, `collection/partition`, a segment). */
  name: string;
  /** The source, opened. */
  source: VectorSource;
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
 * Streams every unit's batches into the prepared target, in order. Returns the rows acknowledged.
 * The caller closes the sources.
 */
export async function loadUnits(
  conn: MilvusConnection,
  prepared: PreparedTarget,
  units: LoadUnit[],
  options: LoadOptions = {},
): Promise<number> {
  const started = performance.now();
  const rowsTotal = units.reduce((n, u) => n + u.source.info.rows, 0);
  const { vectorType, dim } = prepared.schema;
  const rowBytes = bytesPerVector(vectorType, dim);
  const maxRows = rowsPerBatch(rowBytes, options.batchBytes);
  let rowsDone = 0;
  let current = { name: "", done: 0, rows: 0 };
  const writer = new MilvusWriter(conn, prepared.schema, {
    inFlight: options.inFlight ?? DEFAULT_IN_FLIGHT,
    signal: options.signal,
    onRetry: options.onWarning,
    onAcknowledged(rows) {
      rowsDone += rows;
      current.done += rows;
      options.onProgress?.({
        unit: current.name,
        unitRowsDone: Math.min(current.done, current.rows),
        unitRows: current.rows,
        rowsDone,
        rowsTotal,
        bytesDone: rowsDone * rowBytes,
        elapsedSeconds: (performance.now() - started) / 1000,
      });
    },
  });
  try {
    for (const unit of units) {
      throwIfAborted(options.signal);
      current = { name: unit.name, done: 0, rows: unit.source.info.rows };
      for await (const batch of unit.source.batches(maxRows, options.signal)) {
        if (batch.rows === 0) continue;
        await writer.write(batch);
      }
    }
    await writer.drain();
  } catch (error) {
    // Let what is in flight settle so no request outlives the run, then report the first failure.
    await writer.drain().catch(() => {});
    throw error;
  }
  return writer.rowsAcknowledged;
}
