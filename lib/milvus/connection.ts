/**
 * Connecting to a Milvus 2.x server: one HTTP/2 channel ({@linkcode BulkTransport}) for the inserts and the control
 * calls ({@linkcode ControlClient}), and the SDK's client, opened only when asked for (verify reads vectors back
 * with it), all built from one {@linkcode MilvusTarget}.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { MilvusdmError } from "../errors.ts";
import { ControlClient } from "./control.ts";
import { BulkTransport, CallError } from "./transport.ts";

/** Where and how to reach the target Milvus 2.x server. */
export interface MilvusTarget {
  /** `http://host:port`, `https://host:port` or `host:port`; wins over host/port. */
  uri?: string;
  /** Host name (default `127.0.0.1`). */
  host?: string;
  /** gRPC port (default 19530). */
  port?: number;
  /** API token (`user:password` or a cloud API key). */
  token?: string;
  /** User name (with `password`). */
  user?: string;
  /** Password (with `user`). */
  password?: string;
  /** Database (default: the server's default). */
  database?: string;
  /** Use TLS (implied by an `https://` uri). */
  tls?: boolean;
  /** Path of a PEM CA certificate to trust for TLS. */
  caCertPath?: string;
  /** Seconds to wait for a control call before giving up (default 30). */
  timeoutSeconds?: number;
}

/** An open connection: control calls and bulk inserts over one channel, and the SDK client on demand. */
export interface MilvusConnection {
  /** The control calls. */
  readonly client: ControlClient;
  /**
   * The SDK's client, loaded and connected on first use (about 1 CPU s, which a migration does not pay): for
   * calls the control client does not make, such as reading vectors back.
   */
  sdk(): Promise<MilvusClient>;
  /** The bulk insert channel. */
  transport: BulkTransport;
  /** `host:port` for messages (no credentials). */
  address: string;
  /** Database name ("" for the default). */
  database: string;
  /** The server's version string. */
  serverVersion: string;
  /** Closes both channels. */
  close(): Promise<void>;
}

/** Resolves a target to its scheme, host and port. */
export function resolveAddress(target: MilvusTarget): { tls: boolean; host: string; port: number } {
  let tls = target.tls ?? false;
  let host = target.host ?? "127.0.0.1";
  let port = target.port ?? 19530;
  if (target.uri) {
    let uri = target.uri.trim();
    if (uri.startsWith("https://")) tls = true;
    if (!/^[a-z]+:\/\//i.test(uri)) uri = `${tls ? "https" : "http"}://${uri}`;
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new MilvusdmError("CONFIG_INVALID", `Milvus uri "${target.uri}" is not a valid address`, {
        hint: "Use http://host:port or https://host:port",
      });
    }
    if (url.protocol !== "http:" && url.protocol !== "https:" && url.protocol !== "tcp:") {
      throw new MilvusdmError("CONFIG_INVALID", `Milvus uri "${target.uri}" has scheme "${url.protocol}"`, {
        hint: "Use http://host:port or https://host:port",
      });
    }
    tls = url.protocol === "https:" || tls;
    host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    port = url.port ? Number(url.port) : (tls && !target.port ? 443 : port);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new MilvusdmError("CONFIG_INVALID", `Milvus port ${port} is not a port number (1-65535)`);
  }
  return { tls, host, port };
}

function authorizationOf(target: MilvusTarget): string {
  const raw = target.token ? target.token : (target.user && target.password ? `${target.user}:${target.password}` : "");
  if (!raw) return "";
  return btoa(String.fromCharCode(...new TextEncoder().encode(raw)));
}

/**
 * Connects to Milvus and checks it answers, within `timeoutSeconds`.
 *
 * @example
 * ```ts
 * const conn = await connectMilvus({ host: "127.0.0.1", port: 19530 });
 * console.log(conn.serverVersion);
 * await conn.close();
 * ```
 */
export async function connectMilvus(target: MilvusTarget): Promise<MilvusConnection> {
  const { tls, host, port } = resolveAddress(target);
  const hostPart = host.includes(":") ? `[${host}]` : host;
  const address = `${hostPart}:${port}`;
  const timeoutMs = (target.timeoutSeconds ?? 30) * 1000;
  let caCert: string | undefined;
  if (target.caCertPath) {
    try {
      caCert = await Deno.readTextFile(target.caCertPath);
    } catch (error) {
      throw new MilvusdmError("CONFIG_INVALID", `CA certificate "${target.caCertPath}" cannot be read`, {
        cause: error,
      });
    }
  }
  const transport = new BulkTransport({
    baseUrl: `${tls ? "https" : "http"}://${address}`,
    authorization: authorizationOf(target),
    database: target.database ?? "",
    caCert,
  });
  const client = new ControlClient(transport, target.database ?? "", timeoutMs);
  let serverVersion = "";
  try {
    const version = await client.getVersion();
    if (version.status.error_code !== 0 || version.status.code !== 0) {
      throw new CallError("fatal", version.status.reason || `error code ${version.status.error_code}`);
    }
    serverVersion = version.version;
  } catch (error) {
    transport.close();
    const text = String((error as Error).message ?? error);
    if (/UNAUTHENTICATED|auth|credential|password|token/i.test(text) && !/refused \(os error/i.test(text)) {
      throw new MilvusdmError("MILVUS_UNREACHABLE", `Milvus at ${address} refused the credentials`, {
        cause: error,
        hint: "Check dest_user/dest_password or the token",
      });
    }
    if (/DEADLINE_EXCEEDED/.test(text)) {
      throw new MilvusdmError(
        "MILVUS_UNREACHABLE",
        `Milvus at ${address} did not answer within ${timeoutMs / 1000} s`,
        {
          cause: error,
          hint: "Check the address and that nothing blocks the port",
        },
      );
    }
    throw new MilvusdmError("MILVUS_UNREACHABLE", `Cannot reach Milvus at ${address}: ${firstLine(text)}`, {
      cause: error,
      hint: "Check that the server is running and that dest_host/dest_port (or the uri) point at its gRPC port",
    });
  }
  let sdk: Promise<MilvusClient> | null = null;
  const openSdk = async (): Promise<MilvusClient> => {
    const { MilvusClient } = await import("@zilliz/milvus2-sdk-node");
    const opened = new MilvusClient({
      address: `${tls ? "https" : "http"}://${address}`,
      ssl: tls,
      token: target.token,
      username: target.user,
      password: target.password,
      database: target.database,
      timeout: timeoutMs,
      maxRetries: 2,
      logLevel: "error",
      ...(caCert ? { tls: { rootCert: Buffer.from(caCert) } } : {}),
    });
    try {
      await withTimeout(opened.connectPromise, timeoutMs, address);
    } catch (error) {
      await opened.closeConnection().catch(() => {});
      throw error;
    }
    return opened;
  };
  return {
    client,
    sdk(): Promise<MilvusClient> {
      sdk ??= openSdk().catch((error) => {
        sdk = null;
        throw error;
      });
      return sdk;
    },
    transport,
    address,
    database: target.database ?? "",
    serverVersion,
    async close() {
      transport.close();
      const open = sdk;
      sdk = null;
      if (open) await open.then((c) => c.closeConnection()).catch(() => {});
    },
  };
}

function firstLine(text: string): string {
  return text.split("\n")[0].replace(/\s*Resolution note:.*$/, "").slice(0, 300);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, address: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new MilvusdmError("MILVUS_UNREACHABLE", `Milvus at ${address} did not answer within ${ms / 1000} s`, {
          hint: "Check the address and that nothing blocks the port",
        }),
      );
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Throws `MILVUS_ERROR` when an SDK reply carries a failed status. */
export function checkStatus(
  status: { error_code?: string | number; code?: number; reason?: string } | undefined,
  what: string,
): void {
  if (!status) return;
  const ok = (status.error_code === "Success" || status.error_code === 0 || status.error_code === undefined) &&
    (status.code === 0 || status.code === undefined);
  if (!ok) {
    throw new MilvusdmError("MILVUS_ERROR", `Milvus refused to ${what}: ${status.reason || status.error_code}`);
  }
}

/** Messages of a server starting, stopping or briefly without a component: worth another try. */
export const TRANSIENT_MESSAGE =
  /UNAVAILABLE|ECONNREFUSED|ECONNRESET|connection is closing|empty grpc client|failed to connect|connection refused|not ready|not healthy|is stopping|shutting down|deadline|timed? ?out|node not found|channel not found|retry later|Canceled|service not ready/i;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs one control call with retries while the server is briefly unavailable (a restart, a component
 * recovering), up to about a minute; a final failure becomes a typed error naming the server and the step.
 */
export async function control<T>(conn: { address: string }, what: string, call: () => Promise<T>): Promise<T> {
  const attempts = 7;
  for (let attempt = 1;; attempt++) {
    let problem: string;
    let cause: unknown = null;
    try {
      const result = await call();
      const r = result as { status?: { reason?: string; code?: number; error_code?: string | number } } & {
        reason?: string;
        error_code?: string | number;
      };
      const status = r?.status ?? (r && typeof r === "object" && "error_code" in r ? r : undefined);
      const failed = status && status.error_code !== undefined && status.error_code !== "Success" &&
        status.error_code !== 0;
      if (!failed || !TRANSIENT_MESSAGE.test(String(status?.reason ?? "")) || attempt >= attempts) return result;
      problem = String(status?.reason);
    } catch (error) {
      if (error instanceof MilvusdmError) throw error;
      problem = String((error as Error)?.message ?? error);
      cause = error;
      const transient = error instanceof CallError
        ? error.kind === "transient" || error.kind === "rate_limited"
        : TRANSIENT_MESSAGE.test(problem);
      if (!transient || attempt >= attempts) {
        throw new MilvusdmError(
          transient ? "MILVUS_UNREACHABLE" : "MILVUS_ERROR",
          `Milvus at ${conn.address} failed to ${what}: ${firstLine(problem)}`,
          { cause, hint: "Check the server; an interrupted migration continues with --resume" },
        );
      }
    }
    await pause(Math.min(500 * 2 ** (attempt - 1), 15_000));
  }
}
