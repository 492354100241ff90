/**
 * Opens a stopped Milvus 0.7–1.1 server's data directory: finds its `db` folder, reads the metadata once (SQLite or
 * MySQL) and answers collection and partition look-ups.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import {
  buildCollections,
  type Milvus1Collection,
  type Milvus1Layout,
  type Milvus1Partition,
  type MysqlParameters,
  partitionLabel,
  type RawMeta,
  STATE_NORMAL,
} from "./meta.ts";
import { META_SQLITE, readSqliteMeta } from "./meta_sqlite.ts";

/** Options of {@linkcode openMilvus1}. */
export interface OpenMilvus1Options {
  /** MySQL metadata backend (the YAML's `mysql_parameter`); null or absent = `db/meta.sqlite`. */
  mysql?: MysqlParameters | null;
  /**
   * Other storage paths (0.7's `storage_config.secondary_path`) that may hold segment folders; each is a storage root
   * or its `db` folder.
   */
  secondaryPaths?: string[];
}

/** An opened data directory: the metadata is read once at open, segments are read on demand. */
export interface Milvus1Store {
  /** Where the parts of the data directory are. */
  readonly layout: Milvus1Layout;
  /** Which metadata backend was read. */
  readonly backend: "sqlite" | "mysql";
  /** Where the metadata came from (a path or `user@host:port/database`), for messages. */
  readonly metaLocation: string;
  /** Live collections in creation order. */
  collections(): Milvus1Collection[];
  /** A live collection by name; `CONFIG_INVALID` listing the existing ones if there is none. */
  collection(name: string): Milvus1Collection;
  /** A partition by tag (null, "" or "_default" = the default partition); `CONFIG_INVALID` listing the tags. */
  partition(collection: string | Milvus1Collection, tag: string | null): Milvus1Partition;
  /** Releases resources (the metadata connection is already closed after open). */
  close(): Promise<void>;
}

function resolvePath(path: string): string {
  if (path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path)) return path;
  return `${Deno.cwd()}/${path}`;
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
  }
}

function trimSlashes(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

/** Finds the `db` directory: `<path>/db` (the storage root given) or `<path>` itself (the `db` folder given). */
export function locateLayout(path: string, options: OpenMilvus1Options = {}): Milvus1Layout {
  if (typeof path !== "string" || path === "") {
    throw new MilvusdmError("CONFIG_INVALID", "source_milvus_path is empty; expected the Milvus storage path");
  }
  const root = trimSlashes(path);
  const stat = statOrNull(root);
  if (stat === null) {
    throw new MilvusdmError("SOURCE_NOT_FOUND", `Milvus data directory "${root}" does not exist`);
  }
  if (!stat.isDirectory) {
    throw new MilvusdmError("SOURCE_INVALID", `Milvus data directory "${root}" is not a directory`);
  }
  const mysql = options.mysql ?? null;
  let dbDir: string;
  if (mysql === null) {
    if (statOrNull(`${root}/db/${META_SQLITE}`)?.isFile) dbDir = `${root}/db`;
    else if (statOrNull(`${root}/${META_SQLITE}`)?.isFile) dbDir = root;
    else {
      throw new MilvusdmError(
        "SOURCE_NOT_FOUND",
        `No Milvus metadata in "${root}": looked for "${root}/db/${META_SQLITE}" and "${root}/${META_SQLITE}"`,
        {
          hint: "Give the server's storage path (the folder holding db/), or mysql_parameter if its metadata is " +
            "in MySQL",
        },
      );
    }
  } else {
    if (statOrNull(`${root}/db`)?.isDirectory) dbDir = `${root}/db`;
    else if (statOrNull(`${root}/tables`)?.isDirectory) dbDir = root;
    else {
      throw new MilvusdmError(
        "SOURCE_NOT_FOUND",
        `No Milvus segment folders in "${root}": looked for "${root}/db" and "${root}/tables"`,
        { hint: "Give the server's storage path (the folder holding db/)" },
      );
    }
  }
  const extraDbDirs: string[] = [];
  for (const extra of options.secondaryPaths ?? []) {
    const p = trimSlashes(extra);
    if (statOrNull(`${p}/db`)?.isDirectory) extraDbDirs.push(`${p}/db`);
    else if (statOrNull(p)?.isDirectory) extraDbDirs.push(p);
    else throw new MilvusdmError("SOURCE_NOT_FOUND", `Secondary storage path "${p}" does not exist`);
  }
  return { path: root, dbDir, extraDbDirs };
}

/**
 * Opens a stopped Milvus 0.7–1.1 server's data directory and reads its metadata.
 *
 * @param path The server's storage path (`storage_config.primary_path` / `storage.path`), or its `db` folder.
 */
export async function openMilvus1(path: string, options: OpenMilvus1Options = {}): Promise<Milvus1Store> {
  // An absolute path: SQLite's file: URIs and the segment folders must not depend on the working directory.
  const layout = locateLayout(resolvePath(path), options);
  // The MySQL driver is loaded only when MySQL metadata is used.
  const meta: RawMeta = options.mysql
    ? await (await import("./meta_mysql.ts")).readMysqlMeta(options.mysql)
    : readSqliteMeta(layout.dbDir);
  const collections = buildCollections(meta, layout);
  const dropped = new Set(
    meta.tables.filter((t) => t.ownerTable === "" && t.state !== STATE_NORMAL).map((t) => t.tableId),
  );

  function collection(name: string): Milvus1Collection {
    const found = collections.find((c) => c.name === name);
    if (found !== undefined) return found;
    const existing = collections.length === 0
      ? "the source has no collections"
      : `existing collections: ${collections.map((c) => `"${c.name}"`).join(", ")}`;
    throw new MilvusdmError(
      "CONFIG_INVALID",
      dropped.has(name)
        ? `Collection "${name}" was dropped in the source Milvus (its data is awaiting deletion); ${existing}`
        : `Collection "${name}" does not exist in the source Milvus; ${existing}`,
    );
  }

  return {
    layout,
    backend: meta.backend,
    metaLocation: meta.location,
    collections: () => collections.slice(),
    collection,
    partition(which: string | Milvus1Collection, tag: string | null): Milvus1Partition {
      const c = typeof which === "string" ? collection(which) : which;
      const isDefault = tag === null || tag === "" || tag === "_default";
      const found = c.partitions.find((p) => isDefault ? p.isDefault : p.tag === tag);
      if (found !== undefined) return found;
      throw new MilvusdmError(
        "CONFIG_INVALID",
        `Partition "${tag}" does not exist in collection "${c.name}"; existing partitions: ${
          c.partitions.map((p) => `"${partitionLabel(p)}"`).join(", ")
        }`,
      );
    },
    close(): Promise<void> {
      return Promise.resolve();
    },
  };
}
