/**
 * One error class for everything milvusdm reports to a user, with a stable `code`.
 *
 * The CLI maps each code's category to an exit status; library callers can switch on `code`.
 *
 * @module
 */

/** Every error code milvusdm raises, grouped by what the user has to fix. */
export type ErrorCode =
  // The configuration (YAML, options, flags) is wrong.
  | "CONFIG_INVALID"
  // The source cannot be read or is not what it claims to be.
  | "SOURCE_NOT_FOUND"
  | "SOURCE_INVALID"
  | "SOURCE_TRUNCATED"
  | "SOURCE_UNSUPPORTED"
  | "FAISS_UNSUPPORTED_INDEX"
  | "LOSSY_NOT_ALLOWED"
  | "HDF5_INVALID"
  | "MILVUS1_INVALID"
  | "MYSQL_ERROR"
  // The target refused or failed.
  | "MILVUS_UNREACHABLE"
  | "MILVUS_ERROR"
  | "TARGET_SCHEMA_MISMATCH"
  | "TARGET_COUNT_MISMATCH"
  | "OUTPUT_ERROR"
  | "IMPORT_FAILED"
  | "IMPORT_STORAGE_ERROR"
  // Verification found differences.
  | "VERIFY_FAILED"
  // The run was interrupted (Ctrl-C, AbortSignal).
  | "ABORTED"
  // A bug in milvusdm.
  | "INTERNAL";

/** Exit statuses of the CLI, by category. Documented in README.md. */
export const EXIT_CODES = {
  ok: 0,
  internal: 1,
  config: 2,
  source: 3,
  target: 4,
  verify: 5,
  aborted: 130,
} as const;

/** Options of a {@linkcode MilvusdmError}. */
export interface MilvusdmErrorOptions {
  /** The lower-level error, kept for `--debug` output; never shown as the message. */
  cause?: unknown;
  /** What the user can do about it, printed after the message. */
  hint?: string;
}

/**
 * The error every milvusdm function throws for a problem a user can act on.
 *
 * @example
 * ```ts
 * throw new MilvusdmError("CONFIG_INVALID", `H2M.mode: expected one of skip, append, overwrite, got "replace"`);
 * ```
 */
export class MilvusdmError extends Error {
  /** The stable code, e.g. `FAISS_UNSUPPORTED_INDEX`. */
  readonly code: ErrorCode;
  /** What the user can do about it. */
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, options: MilvusdmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MilvusdmError";
    this.code = code;
    this.hint = options.hint;
  }
}

/** The CLI exit status for an error (any error: non-milvusdm errors are internal). */
export function exitCodeFor(error: unknown): number {
  if (!(error instanceof MilvusdmError)) return EXIT_CODES.internal;
  switch (error.code) {
    case "CONFIG_INVALID":
    case "LOSSY_NOT_ALLOWED":
      return EXIT_CODES.config;
    case "SOURCE_NOT_FOUND":
    case "SOURCE_INVALID":
    case "SOURCE_TRUNCATED":
    case "SOURCE_UNSUPPORTED":
    case "FAISS_UNSUPPORTED_INDEX":
    case "HDF5_INVALID":
    case "MILVUS1_INVALID":
    case "MYSQL_ERROR":
      return EXIT_CODES.source;
    case "MILVUS_UNREACHABLE":
    case "MILVUS_ERROR":
    case "TARGET_SCHEMA_MISMATCH":
    case "TARGET_COUNT_MISMATCH":
    case "OUTPUT_ERROR":
    case "IMPORT_FAILED":
    case "IMPORT_STORAGE_ERROR":
      return EXIT_CODES.target;
    case "VERIFY_FAILED":
      return EXIT_CODES.verify;
    case "ABORTED":
      return EXIT_CODES.aborted;
    case "INTERNAL":
      return EXIT_CODES.internal;
  }
}

/** Throws `ABORTED` when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new MilvusdmError("ABORTED", "The migration was interrupted");
}
