/**
 * Reads Milvus 0.7–1.1 metadata from `<db>/meta.sqlite` without changing anything in the source directory.
 *
 * A missing file is an error (never created). The database is opened as `file:…?immutable=1` read-only, which
 * creates no `-shm`/`-wal` beside it. `immutable` ignores a `-wal` (or hot `-journal`) left by a server that
 * stopped without a checkpoint, so when one exists the meta files are copied to a private temporary directory,
 * read there (SQLite recovers the copy) and the copy is deleted.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { pathToFileURL } from "node:url";
import { MilvusdmError } from "../errors.ts";
import { checkColumns, FILE_TYPE, normaliseFilesRow, normaliseTablesRow, type RawMeta } from "./meta.ts";

/** The name of the SQLite metadata file inside the `db` directory. */
export const META_SQLITE = "meta.sqlite";

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads the `Tables` rows and the live raw `TableFiles` rows of `<dbDir>/meta.sqlite`.
 *
 * @example
 * ```ts
 * const meta = readSqliteMeta("/var/lib/milvus/db");
 * console.log(meta.tables.length);
 * ```
 */
export function readSqliteMeta(dbDir: string): RawMeta {
  const metaPath = `${dbDir}/${META_SQLITE}`;
  let stat: Deno.FileInfo;
  try {
    stat = Deno.statSync(metaPath);
  } catch (error) {
    throw new MilvusdmError("SOURCE_NOT_FOUND", `Milvus metadata file "${metaPath}" does not exist`, { cause: error });
  }
  if (!stat.isFile) {
    throw new MilvusdmError("MILVUS1_INVALID", `"${metaPath}" is not a regular file`);
  }
  const pending = ["-wal", "-journal"].filter((suffix) => {
    try {
      return Deno.statSync(metaPath + suffix).size > 0;
    } catch {
      return false;
    }
  });
  // Always read a private copy (with any WAL or hot journal, recovered there): opening the source itself, even
  // read-only, can create -shm/-wal files beside it, and Deno resolves `file:…?immutable=1` URIs against the
  // working directory when permissions are granted per path (as in the compiled binary).
  const temp = Deno.makeTempDirSync({ prefix: "milvusdm-meta-" });
  try {
    const copy = `${temp}/${META_SQLITE}`;
    Deno.copyFileSync(metaPath, copy);
    for (const suffix of pending) {
      if (exists(metaPath + suffix)) Deno.copyFileSync(metaPath + suffix, copy + suffix);
    }
    return readDatabase(copy, false, metaPath);
  } finally {
    Deno.removeSync(temp, { recursive: true });
  }
}

function readDatabase(path: string, immutable: boolean, shownPath: string): RawMeta {
  let db: DatabaseSync;
  try {
    if (immutable) {
      const url = pathToFileURL(path);
      url.search = "?immutable=1";
      db = new DatabaseSync(url, { readOnly: true });
    } else {
      db = new DatabaseSync(path);
    }
  } catch (error) {
    throw new MilvusdmError("MILVUS1_INVALID", `Cannot open "${shownPath}" as SQLite: ${messageOf(error)}`, {
      cause: error,
    });
  }
  try {
    const tables = queryAll(db, "Tables", "SELECT * FROM Tables ORDER BY id", [], shownPath);
    const files = queryAll(
      db,
      "TableFiles",
      "SELECT * FROM TableFiles WHERE file_type IN (?, ?, ?) ORDER BY id",
      [FILE_TYPE.RAW, FILE_TYPE.TO_INDEX, FILE_TYPE.BACKUP],
      shownPath,
    );
    return {
      backend: "sqlite",
      location: `"${shownPath}"`,
      tables: tables.map((row) => normaliseTablesRow(row, `"${shownPath}"`)),
      files: files.map((row) => normaliseFilesRow(row, `"${shownPath}"`)),
    };
  } finally {
    db.close();
  }
}

function queryAll(
  db: DatabaseSync,
  table: "Tables" | "TableFiles",
  sql: string,
  params: number[],
  shownPath: string,
): Record<string, unknown>[] {
  let columns: string[];
  let rows: Record<string, unknown>[];
  try {
    const statement = db.prepare(sql);
    statement.setReadBigInts(true);
    columns = statement.columns().map((c) => c.name);
    rows = statement.all(...params) as Record<string, unknown>[];
  } catch (error) {
    const message = messageOf(error);
    if (/no such table/i.test(message)) {
      throw new MilvusdmError(
        "MILVUS1_INVALID",
        `"${shownPath}" has no "${table}" table: not the metadata of a Milvus 0.7–1.1 server`,
        { cause: error },
      );
    }
    throw new MilvusdmError("MILVUS1_INVALID", `Cannot read "${table}" from "${shownPath}": ${message}`, {
      cause: error,
    });
  }
  checkColumns(table, columns, `"${shownPath}"`);
  return rows;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
