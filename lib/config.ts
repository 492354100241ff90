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
import { type ImportOptions, WRITE_PATHS, type WritePath } from "./import/importer.ts";
import type { ImportStorageConfig } from "./import/storage.ts";

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
  return { kind, body, warnings, secrets: findSecrets(body) };
}

/** Keys whose values are secrets, wherever they sit in the YAML (`dest_password`, `mysql_parameter.password`...). */
const SECRET_KEY = /(password|passwd|token|secret|api_?key|secret_(access_)?key)$/i;

/**
 * The secret values of a task body: every string or number under a key named like a password or token, and the
 * password of a `user:password@` in `dest_uri`.
 */
export function findSecrets(body: YamlMap): string[] {
  const found = new Set<string>();
  const walk = (value: unknown, key: string) => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v, key);
    } else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, k);
    } else if ((typeof value === "string" || typeof value === "number") && SECRET_KEY.test(key)) {
      const text = String(value);
      if (text) found.add(text);
    }
  };
  walk(body, "");
  const uri = body["dest_uri"];
  if (typeof uri === "string") {
    const m = /^[a-z]+:\/\/([^/@]*)@/i.exec(uri.trim());
    if (m) {
      const [user, password] = m[1].split(":");
      if (password) {
        found.add(password);
        try {
          found.add(decodeURIComponent(password));
        } catch {
          // not percent-encoded
        }
      }
      if (user && password === undefined) found.add(user); // a bare token in the user part
    }
  }
  return [...found];
}

/** Reads keys of one mapping with messages that name the key path. */
export class KeyReader {
  readonly path: string;
  readonly map: YamlMap;
  readonly #used = new Set<string>();
  readonly #children: KeyReader[] = [];

  constructor(path: string, map: YamlMap) {
    this.path = path;
    this.map = map;
  }

  #fail(key: string, expected: string, got: unknown): never {
    throw new MilvusdmError("CONFIG_INVALID", `${this.path}.${key}: expected ${expected}, got ${describe(got)}`);
  }

  /** The error for a required key that is absent, with a hint when a misspelt key is close to it. */
  missing(key: string, expected: string): MilvusdmError {
    const near = Object.keys(this.map).find((k) => k !== key && !this.#used.has(k) && editDistance(k, key) <= 2);
    return new MilvusdmError("CONFIG_INVALID", `${this.path}.${key}: is missing (expected ${expected})`, {
      hint: near ? `The file has "${near}": did you mean "${key}"?` : undefined,
    });
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
    if (v === undefined) throw this.missing(key, what);
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
  stringList(key: string, what = "a list of paths", item = "a path"): string[] | undefined {
    this.#used.add(key);
    const v = this.map[key];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v === "string") return [v];
    if (!Array.isArray(v)) this.#fail(key, what, v);
    const bad = v.findIndex((x) => typeof x !== "string" || !x);
    if (bad >= 0) {
      throw new MilvusdmError(
        "CONFIG_INVALID",
        `${this.path}.${key}[${bad}]: expected ${item}, got ${describe(v[bad])}`,
      );
    }
    return v as string[];
  }

  /** An optional nested mapping, whose unknown keys are reported with this reader's. */
  mapping(key: string): KeyReader | undefined {
    this.#used.add(key);
    const v = this.map[key];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v !== "object" || Array.isArray(v)) this.#fail(key, "a mapping", v);
    const child = new KeyReader(`${this.path}.${key}`, v as YamlMap);
    this.#children.push(child);
    return child;
  }

  /** The raw value (marked as known). */
  raw(key: string): unknown {
    this.#used.add(key);
    return this.map[key];
  }

  /** Warnings for keys never read, here and in the nested mappings read, with a suggestion for a likely typo. */
  unknownKeys(): string[] {
    const known = [...this.#used];
    const own = Object.keys(this.map).filter((k) => !this.#used.has(k)).map((k) => {
      const near = known.find((u) => editDistance(u, k) <= 2);
      return `${this.path}.${k}: unknown key ignored${near ? ` (did you mean "${near}"?)` : ""}`;
    });
    return [...own, ...this.#children.flatMap((c) => c.unknownKeys())];
  }
}

/** Levenshtein distance, for "did you mean" hints on short key names. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "boolean") return `${v} (a boolean)`;
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
  writePath?: WritePath;
  import?: ImportOptions;
}

/** Values given beside the YAML that replace its keys (command-line flags). */
export interface DestinationOverrides {
  /** Replaces `dest_uri` (and with it `dest_host`/`dest_port`). */
  destUri?: string;
  /** Replaces `mode`. */
  mode?: Mode;
}

/** Reads `dest_*`, `mode`, `collection_parameter` and the tuning keys; `overrides` win over the YAML. */
export function readDestination(r: KeyReader, overrides: DestinationOverrides = {}): DestinationConfig {
  r.ignore("milvus_version", "milvus-version");
  const yamlUri = r.string("dest_uri");
  const uri = overrides.destUri || yamlUri;
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
    const error = r.missing("dest_host", "the Milvus server's host, or dest_uri");
    throw error.hint ? error : new MilvusdmError("CONFIG_INVALID", error.message, {
      hint: "Set dest_host and dest_port, or dest_uri",
    });
  }
  if ((target.user && !target.password) || (!target.user && target.password)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${r.path}.${target.user ? "dest_password" : "dest_user"}: is missing (dest_user and dest_password go together)`,
    );
  }
  const yamlMode = r.string("mode");
  const modeRaw = overrides.mode ?? yamlMode;
  if (modeRaw === undefined) {
    throw r.missing("mode", "one of skip, append, overwrite");
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
    writePath: readWritePath(r),
    import: readImport(r),
  };
}

function readWritePath(r: KeyReader): WritePath | undefined {
  const raw = r.string("write_path");
  if (raw === undefined) return undefined;
  const value = raw.toLowerCase() as WritePath;
  if (!WRITE_PATHS.includes(value)) {
    throw new MilvusdmError(
      "CONFIG_INVALID",
      `${r.path}.write_path: expected one of ${WRITE_PATHS.join(", ")}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

const MAX_BYTES = Number.MAX_SAFE_INTEGER;

/** Reads the bulk-import keys: thresholds, file-set size, and `import_storage`. */
function readImport(r: KeyReader): ImportOptions | undefined {
  const options: ImportOptions = {
    thresholdBytes: r.integer("import_threshold_bytes", 0, MAX_BYTES, "a byte count"),
    fileBytes: r.integer("import_file_bytes", 1024, MAX_BYTES, "a byte count of at least 1024"),
    keepFiles: r.boolean("keep_import_files"),
    jobsInFlight: r.integer("imports_in_flight", 1, 16, "a number from 1 to 16"),
    storage: readImportStorage(r),
  };
  const set = Object.entries(options).filter(([, v]) => v !== undefined);
  return set.length > 0 ? Object.fromEntries(set) as ImportOptions : undefined;
}

function readImportStorage(r: KeyReader): ImportStorageConfig | undefined {
  const m = r.mapping("import_storage");
  if (!m) return undefined;
  const type = (m.string("type") ?? (m.has("bucket") ? "s3" : "local")).toLowerCase();
  if (type === "local") {
    return { type: "local", dir: m.string("dir"), serverDir: m.string("server_dir") };
  }
  if (type === "s3" || type === "minio") {
    const bucket = m.requiredString("bucket", "the bucket the Milvus server uses (minio.bucketName)");
    return {
      type: "s3",
      bucket,
      endpoint: m.string("endpoint"),
      prefix: m.string("prefix"),
      region: m.string("region"),
      accessKeyId: m.string("access_key_id"),
      secretAccessKey: m.string("secret_access_key"),
      sessionToken: m.string("session_token"),
      forcePathStyle: m.boolean("force_path_style"),
      stagingDir: m.string("staging_dir"),
    };
  }
  throw new MilvusdmError(
    "CONFIG_INVALID",
    `${m.path}.type: expected local or s3, got ${JSON.stringify(type)}`,
  );
}

/**
 * Redacts every secret from a text: as written, JSON-escaped and percent-encoded (the forms a secret takes in JSON
 * events and URLs).
 *
 * @example
 * ```ts
 * redact('connect as root:s3cret failed', ["s3cret"]); // "connect as root:*** failed"
 * ```
 */
export function redact(text: string, secrets: readonly string[]): string {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    forms.add(s);
    forms.add(JSON.stringify(s).slice(1, -1));
    forms.add(encodeURIComponent(s));
  }
  let out = text;
  for (const form of [...forms].sort((a, b) => b.length - a.length)) {
    if (!form) continue;
    if (form.length >= SHORT_SECRET) {
      out = out.split(form).join("***");
    } else {
      // A short secret is redacted where it stands alone, not inside every word that contains it.
      const escaped = form.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      out = out.replace(new RegExp(`(?<![A-Za-z0-9])${escaped}(?![A-Za-z0-9])`, "g"), "***");
    }
  }
  return out;
}

/** Secrets shorter than this are redacted only where they stand alone (`"x"`, not the x in "expected"). */
const SHORT_SECRET = 8;
