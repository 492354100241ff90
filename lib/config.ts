/**
 * Reading milvusdm YAML files: the original MilvusDM format (`F2M:`/`H2M:`/`M2M:`/`M2H:` as the first key),
 * validated with messages that name the key path and the expected value, `${ENV_VAR}` substitution, and a warning
 * for each unknown key.
 *
 * @module
 */
import YAML from "yaml";
import { MilvusdmError } from "./errors.ts";
import type { MilvusTarget } from "./milvus/connection.ts";
import { type IndexSpec, type Mode, MODES } from "./milvus/sink.ts";
import type { Metric } from "./types.ts";

/** The four jobs. */
export type TaskKind = "F2M" | "H2M" | "M2M" | "M2H";
/** Their keys, in the original's order. */
export const TASK_KINDS: readonly TaskKind[] = ["F2M", "H2M", "M2M", "M2H"];

/** A YAML mapping. */
export type YamlMap = Record<string, unknown>;

/** A parsed, not yet job-specific, configuration. */
export interface TaskConfig {
  /** Which job. */
  kind: TaskKind;
  /** The job's mapping, with `${VAR}` substituted. */
  body: YamlMap;
  /** Warnings (unknown keys). */
  warnings: string[];
  /** Values to redact from every log line and error (passwords, tokens). */
  secrets: string[];
}

/** Replaces `${NAME}` (and `${NAME:-default}`) in every string of a parsed YAML value. */
export function substituteEnv(value: unknown, path: string, env: (name: string) => string | undefined): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const v = env(name);
      if (v !== undefined) return v;
      if (fallback !== undefined) return fallback;
      throw new MilvusdmError("CONFIG_INVALID", `${path}: environment variable ${name} is not set`, {
        hint: `Set ${name}, or write \${${name}:-default}`,
      });
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, `${path}[${i}]`, env));
  if (value && typeof value === "object") {
    const out: YamlMap = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, `${path}.${k}`, env);
    return out;
  }
  return value;
}

function defaultEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Parses YAML text into a task; `source` names the file in messages. */
export function parseTaskYaml(
  text: string,
  source = "the YAML file",
  env: (name: string) => string | undefined = defaultEnv,
): TaskConfig {
  let doc: unknown;
  try {
    doc = YAML.parse(text, { uniqueKeys: true, prettyErrors: true });
  } catch (error) {
    const msg = (error as Error).message.split("\n")[0];
    throw new MilvusdmError("CONFIG_INVALID", `${source} is not valid YAML: ${msg}`, { cause: error });
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new MilvusdmError("CONFIG_INVALID", `${source} must be a mapping with one of F2M, H2M, M2M, M2H`);
  }
  const keys = Object.keys(doc as YamlMap);
  const tasks = keys.filter((k) => (TASK_KINDS as readonly string[]).includes(k));
  if (tasks.length !== 1) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      tasks.length === 0
        ? `${source} names no task: expected a top-level key F2M, H2M, M2M or M2H, found ${
          keys.map((k) => JSON.stringify(k)).join(", ") || "nothing"
        }`
        : `${source} names several tasks (${tasks.join(", ")}); one file runs one task`,
    );
  }
  const kind = tasks[0] as TaskKind;
  const warnings = keys.filter((k) => k !== kind).map((k) => `${source}: unknown top-level key "${k}" ignored`);
  const raw = (doc as YamlMap)[kind];
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw new MilvusdmError("CONFIG_INVALID", `${kind}: expected a mapping of settings`);
  }
  const body = substituteEnv(raw, kind, env) as YamlMap;
  const secrets: string[] = [];
  for (const key of ["dest_password", "dest_token", "token", "password"]) {
    if (typeof body[key] === "string" && body[key]) secrets.push(body[key] as string);
  }
  const mysql = body["mysql_parameter"];
  if (mysql && typeof mysql === "object" && typeof (mysql as YamlMap)["password"] === "string") {
    const p = (mysql as YamlMap)["password"] as string;
    if (p) secrets.push(p);
  }
  return { kind, body, warnings, secrets };
}

/** Reads keys of one mapping with messages that name the key path. */
export class KeyReader {
  readonly path: string;
  readonly map: YamlMap;
  readonly #used = new Set<string>();

  constructor(path: string, map: YamlMap) {
    this.path = path;
    this.map = map;
  }

  #fail(key: string, expected: string, got: unknown): never {
    throw new MilvusdmError("CONFIG_INVALID", `${this.path}.${key}: expected ${expected}, got ${describe(got)}`);
  }

  /** Marks keys as known without reading them (e.g. `milvus_version`). */
  ignore(...keys: string[]): void {
    for (const k of keys) this.#used.add(k);
  }

  /** Whether the key is present with a non-empty value. */
  has(key: string): boolean {
    const v = this.map[key];
    return v !== undefined && v !== null && v !== "";
  }

  /** An optional string. */
  string(key: string): string | undefined {
    this.#used.add(key);
    const v = this.map[key];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v === "number") return String(v);
    if (typeof v !== "string") this.#fail(key, "a string", v);
    return v;
  }

  /** A required string. */
  requiredString(key: string, what = "a value"): string {
    const v = this.string(key);
    if (v === undefined) {
      throw new MilvusdmError("CONFIG_INVALID", `${this.path}.${key}: is missing (expected ${what})`);
    }
    return v;
  }

  /** An optional integer within bounds. */
  integer(key: string, min: number, max: number, what = "a whole number"): number | undefined {
    this.#used.add(key);
    const v = this.map[key];
    if (v === undefined || v === null || v === "") return undefined;
    const n = typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) this.#fail(key, what, v);
    return n as number;
  }

  /** An optional port number. */
  port(key: string): number | undefined {
    return this.integer(key, 1, 65535, "a port number");
  }

  /** An optional boolean. */
  boolean(key: string): boolean | undefined {
    this.#used.add(key);
    const v = this.map[key];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v === "boolean") return v;
    if (v === "true" || v === "false") return v === "true";
    this.#fail(key, "true or false", v);
  }

  /** An optional list of strings (a single string counts as a list of one). */
  stringList(key: string): string[] | undefined {
    this.#used.add(key);
    const v = this.map[key];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v === "string") return [v];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || !x)) this.#fail(key, "a list of paths", v);
    return v as string[];
  }

  /** An optional nested mapping. */
  mapping(key: string): KeyReader | undefined {
    this.#used.add(key);
    const v = this.map[key];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v !== "object" || Array.isArray(v)) this.#fail(key, "a mapping", v);
    return new KeyReader(`${this.path}.${key}`, v as YamlMap);
  }

  /** The raw value (marked as known). */
  raw(key: string): unknown {
    this.#used.add(key);
    return this.map[key];
  }

  /** Warnings for keys never read. */
  unknownKeys(): string[] {
    return Object.keys(this.map).filter((k) => !this.#used.has(k)).map((k) => `${this.path}.${k}: unknown key ignored`);
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return String(v);
}

const METRIC_NAMES: readonly Metric[] = [
  "L2",
  "IP",
  "COSINE",
  "HAMMING",
  "JACCARD",
  "TANIMOTO",
  "SUBSTRUCTURE",
  "SUPERSTRUCTURE",
];

/** The destination keys every `*ToMilvus` job shares. */
export interface DestinationConfig {
  target: MilvusTarget;
  mode: Mode;
  collection?: string;
  partition?: string;
  dimension?: number;
  metric?: Metric;
  index?: IndexSpec | false;
  batchBytes?: number;
  inFlight?: number;
}

/** Reads `dest_*`, `mode`, `collection_parameter` and the tuning keys. */
export function readDestination(r: KeyReader): DestinationConfig {
  r.ignore("milvus_version", "milvus-version");
  const uri = r.string("dest_uri");
  const host = r.string("dest_host");
  const port = r.port("dest_port");
  const target: MilvusTarget = {
    uri,
    host,
    port,
    token: r.string("dest_token"),
    user: r.string("dest_user"),
    password: r.string("dest_password"),
    database: r.string("dest_database"),
    tls: r.boolean("dest_tls"),
    caCertPath: r.string("dest_ca_cert"),
  };
  if (!uri && !host) {
    throw new MilvusdmError("CONFIG_INVALID", `${r.path}.dest_host: is missing (expected the Milvus server's host)`, {
      hint: "Set dest_host and dest_port, or dest_uri",
    });
  }
  if ((target.user && !target.password) || (!target.user && target.password)) {
    throw new MilvusdmError("CONFIG_INVALID", `${r.path}: dest_user and dest_password go together`);
  }
  const modeRaw = r.string("mode");
  if (modeRaw === undefined) {
    throw new MilvusdmError("CONFIG_INVALID", `${r.path}.mode: is missing (expected one of skip, append, overwrite)`);
  }
  const mode = modeRaw.toLowerCase() as Mode;
  if (!MODES.includes(mode)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${r.path}.mode: expected one of skip, append, overwrite, got ${JSON.stringify(modeRaw)}`,
    );
  }
  const params = r.mapping("collection_parameter");
  let dimension: number | undefined;
  let metric: Metric | undefined;
  if (params) {
    dimension = params.integer("dimension", 1, 32768, "a dimension from 1 to 32768");
    params.integer("index_file_size", 0, Number.MAX_SAFE_INTEGER, "a size in MB");
    const m = params.string("metric_type");
    if (m !== undefined) {
      const upper = m.toUpperCase() as Metric;
      if (!METRIC_NAMES.includes(upper)) {
        throw new MilvusdmError(
          "CONFIG_INVALID",
          `${params.path}.metric_type: expected one of ${METRIC_NAMES.join(", ")}, got ${JSON.stringify(m)}`,
        );
      }
      metric = upper;
    }
  }
  let index: IndexSpec | false | undefined;
  const indexType = r.string("index_type");
  if (indexType !== undefined) {
    if (indexType.toLowerCase() === "none") index = false;
    else {
      const p = r.raw("index_params");
      if (p !== undefined && p !== null && (typeof p !== "object" || Array.isArray(p))) {
        throw new MilvusdmError("CONFIG_INVALID", `${r.path}.index_params: expected a mapping, got ${describe(p)}`);
      }
      index = { type: indexType.toUpperCase(), params: (p ?? {}) as Record<string, unknown> };
    }
  } else r.ignore("index_params");
  return {
    target,
    mode,
    collection: r.string("dest_collection_name"),
    partition: r.string("dest_partition_name"),
    dimension,
    metric,
    index,
    batchBytes: r.integer("batch_bytes", 1024, 48 * 1024 * 1024, "a byte count from 1024 to 50331648"),
    inFlight: r.integer("in_flight", 1, 64, "a number from 1 to 64"),
  };
}

/** Redacts every secret from a text. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length >= 1) out = out.split(s).join("***");
  }
  return out;
}
