/**
 * The bulk-data path: gRPC unary calls over HTTP/2 with Deno's own `fetch`, carrying pre-encoded messages.
 *
 * Plaintext targets use prior-knowledge h2c; `https://` targets use TLS with ALPN h2. The same address, database
 * and credentials as the control calls travel as gRPC metadata headers. See ../shared/notes/milvus-insert.md.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import { decodeMutationResult, type MutationStatus } from "./wire.ts";

/** How to reach the server's gRPC endpoint for bulk calls. */
export interface TransportOptions {
  /** `http://host:port` or `https://host:port`. */
  baseUrl: string;
  /** The `authorization` metadata value (base64 of `user:password` or of the token), or "". */
  authorization: string;
  /** Database name, or "" for the default. */
  database: string;
  /** PEM of a CA to trust for TLS. */
  caCert?: string;
  /** Per-call deadline in seconds. */
  timeoutSeconds?: number;
}

/** Why a call failed, for the retry policy. */
export type CallFailureKind = "transient" | "too_large" | "rate_limited" | "fatal";

/** A failed bulk call. */
export class CallError extends Error {
  readonly kind: CallFailureKind;
  constructor(kind: CallFailureKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_ABORTED = 10;
const GRPC_INTERNAL = 13;

const GRPC_CODE_NAMES: Record<number, string> = {
  1: "CANCELLED",
  2: "UNKNOWN",
  3: "INVALID_ARGUMENT",
  4: "DEADLINE_EXCEEDED",
  5: "NOT_FOUND",
  6: "ALREADY_EXISTS",
  7: "PERMISSION_DENIED",
  8: "RESOURCE_EXHAUSTED",
  9: "FAILED_PRECONDITION",
  10: "ABORTED",
  11: "OUT_OF_RANGE",
  12: "UNIMPLEMENTED",
  13: "INTERNAL",
  14: "UNAVAILABLE",
  15: "DATA_LOSS",
  16: "UNAUTHENTICATED",
};

/** Milvus `ErrorCode.RateLimit` and the newer merr rate-limit code. */
const MILVUS_RATE_LIMIT_ERROR_CODE = 49;
const MILVUS_RATE_LIMIT_CODE = 8;

/** A reusable bulk-call channel (one HTTP/2 connection shared by the calls in flight). */
export class BulkTransport {
  readonly #client: Deno.HttpClient;
  readonly #headers: Record<string, string>;
  readonly #base: string;

  constructor(options: TransportOptions) {
    const tls = options.baseUrl.startsWith("https://");
    this.#client = Deno.createHttpClient({
      http1: false,
      http2: true,
      ...(tls && options.caCert ? { caCerts: [options.caCert] } : {}),
    });
    this.#base = options.baseUrl.replace(/\/+$/, "");
    this.#headers = {
      "content-type": "application/grpc",
      "te": "trailers",
      "grpc-timeout": `${options.timeoutSeconds ?? 600}S`,
    };
    if (options.authorization) this.#headers["authorization"] = options.authorization;
    if (options.database) this.#headers["dbname"] = options.database;
  }

  /**
   * Sends one framed request (5-byte gRPC prefix included) to `MilvusService/<method>` and returns the reply's
   * message bytes (prefix removed). Transport and gRPC-level failures become {@linkcode CallError}s.
   */
  async unary(
    method: string,
    framed: Uint8Array<ArrayBuffer>,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<Uint8Array> {
    const { signal, timeoutMs } = options;
    const deadline = timeoutMs !== undefined ? AbortSignal.timeout(timeoutMs) : undefined;
    const signals = [signal, deadline].filter((s): s is AbortSignal => s !== undefined);
    const combined = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    const headers = timeoutMs !== undefined
      ? { ...this.#headers, "grpc-timeout": `${Math.min(99_999_999, Math.max(1, Math.ceil(timeoutMs)))}m` }
      : this.#headers;
    const timedOut = () => deadline?.aborted === true && signal?.aborted !== true;
    const noAnswer = () =>
      new CallError("transient", `DEADLINE_EXCEEDED: no answer to ${method} within ${timeoutMs! / 1000} s`);
    let response: Response;
    try {
      response = await fetch(`${this.#base}/milvus.proto.milvus.MilvusService/${method}`, {
        method: "POST",
        headers,
        // A stream, not the bytes: fetch copies a Uint8Array body in JS before handing it over (0.65 CPU s per
        // 1M × 128 rows measured); a one-chunk stream is handed over as it is. The caller keeps `framed` unchanged
        // until this call settles.
        body: oneChunk(framed),
        client: this.#client,
        signal: combined,
      });
    } catch (error) {
      if (timedOut()) throw noAnswer();
      if (signal?.aborted) throw error;
      throw new CallError("transient", `the connection failed: ${(error as Error).message ?? error}`, {
        cause: error,
      });
    }
    const body = new Uint8Array(
      await response.arrayBuffer().catch((error) => {
        if (timedOut()) throw noAnswer();
        if (signal?.aborted) throw error;
        throw new CallError("transient", `the reply was cut off: ${(error as Error).message ?? error}`, {
          cause: error,
        });
      }),
    );
    const grpcStatus = response.headers.get("grpc-status");
    if (response.status !== 200) {
      throw new CallError(
        response.status === 503 || response.status === 502 ? "transient" : "fatal",
        `HTTP ${response.status} from the server${grpcStatus ? ` (grpc-status ${grpcStatus})` : ""}`,
      );
    }
    if (grpcStatus !== null && grpcStatus !== "0") {
      const code = Number(grpcStatus);
      const message = decodeGrpcMessage(response.headers.get("grpc-message") ?? "");
      const text = `gRPC status ${code} (${GRPC_CODE_NAMES[code] ?? "UNKNOWN"}): ${message}`;
      if (code === GRPC_RESOURCE_EXHAUSTED && /larger than max|message too large|max.*size/i.test(message)) {
        throw new CallError("too_large", text);
      }
      if (code === GRPC_RESOURCE_EXHAUSTED) throw new CallError("rate_limited", text);
      if (code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED || code === GRPC_ABORTED) {
        throw new CallError("transient", text);
      }
      throw new CallError(code === GRPC_INTERNAL ? "transient" : "fatal", text);
    }
    if (body.length < 5) throw new CallError("transient", "the server sent an empty reply without a status");
    const len = new DataView(body.buffer, body.byteOffset).getUint32(1, false);
    if (body[0] !== 0 || len !== body.length - 5) {
      throw new CallError("fatal", `the server sent a malformed gRPC frame (flag ${body[0]}, length ${len})`);
    }
    return body.subarray(5);
  }

  /** Sends one framed request to `MilvusService/<method>` and decodes its `MutationResult`. */
  async mutate(
    method: "Insert" | "Upsert",
    framed: Uint8Array<ArrayBuffer>,
    signal?: AbortSignal,
  ): Promise<MutationStatus> {
    const status = decodeMutationResult(await this.unary(method, framed, { signal }));
    if (status.errorCode !== 0 || status.code !== 0) {
      const text = `Milvus refused the ${method.toLowerCase()}: ${status.reason || "no reason given"} ` +
        `(error_code ${status.errorCode}, code ${status.code})`;
      if (
        status.errorCode === MILVUS_RATE_LIMIT_ERROR_CODE || status.code === MILVUS_RATE_LIMIT_CODE ||
        /rate limit|quota exceeded|deny to write/i.test(status.reason)
      ) {
        throw new CallError("rate_limited", text);
      }
      // A server starting, stopping or losing an internal component answers with these: worth retrying.
      if (
        /empty grpc client|failed to connect|connection refused|not ready|not healthy|unavailable|is stopping|shutting down|timeout|deadline|node not found|channel not found|retry later/i
          .test(status.reason)
      ) {
        throw new CallError("transient", text);
      }
      throw new CallError("fatal", text);
    }
    return status;
  }

  /** Closes the connection. */
  close(): void {
    this.#client.close();
  }
}

function oneChunk(bytes: Uint8Array<ArrayBuffer>): ReadableStream<Uint8Array<ArrayBuffer>> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

function decodeGrpcMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Wraps a final call failure as the user-facing error. */
export function callFailure(error: CallError, address: string): MilvusdmError {
  if (error.kind === "transient") {
    return new MilvusdmError("MILVUS_UNREACHABLE", `Lost the connection to Milvus at ${address}: ${error.message}`, {
      cause: error,
      hint: "Check that the server is running; the run can be repeated",
    });
  }
  return new MilvusdmError("MILVUS_ERROR", `Milvus at ${address} failed an insert: ${error.message}`, {
    cause: error,
  });
}
