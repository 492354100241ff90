/**
 * Reads Milvus 0.7–1.1 metadata from the MySQL database named in the server's `general.meta_uri`.
 *
 * Queries are parameterised (`execute`); every failure becomes a `MYSQL_ERROR` whose message names the user, host
 * and database but never the password.
 *
 * @module
 */
import mysql from "mysql2/promise";
import { MilvusdmError } from "../errors.ts";
import {
  checkColumns,
  FILE_TYPE,
  type MysqlParameters,
  normaliseFilesRow,
  normaliseTablesRow,
  type RawMeta,
} from "./meta.ts";

/** How long to wait for the MySQL server to accept a connection. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Reads the `Tables` rows and the live raw `TableFiles` rows from a MySQL metadata database.
 *
 * @example
 * ```ts
 * const meta = await readMysqlMeta({ host: "127.0.0.1", port: 3306, user: "root", password: "…", database: "milvus" });
 * ```
 */
export async function readMysqlMeta(params: MysqlParameters): Promise<RawMeta> {
  checkParameters(params);
  const location = `MySQL ${params.user}@${params.host}:${params.port}/${params.database}`;
  let connection: mysql.Connection;
  try {
    connection = await mysql.createConnection({
      host: params.host,
      port: params.port,
      user: params.user,
      password: params.password,
      database: params.database,
      connectTimeout: CONNECT_TIMEOUT_MS,
      supportBigNumbers: true,
      bigNumberStrings: false,
      dateStrings: true,
    });
  } catch (error) {
    throw mysqlError(error, params, "connect");
  }
  try {
    const tables = await queryAll(connection, "Tables", "SELECT * FROM Tables ORDER BY id", [], params, location);
    const files = await queryAll(
      connection,
      "TableFiles",
      "SELECT * FROM TableFiles WHERE file_type IN (?, ?, ?) ORDER BY id",
      [FILE_TYPE.RAW, FILE_TYPE.TO_INDEX, FILE_TYPE.BACKUP],
      params,
      location,
    );
    return {
      backend: "mysql",
      location,
      tables: tables.map((row) => normaliseTablesRow(row, location)),
      files: files.map((row) => normaliseFilesRow(row, location)),
    };
  } finally {
    await connection.end().catch(() => connection.destroy());
  }
}

async function queryAll(
  connection: mysql.Connection,
  table: "Tables" | "TableFiles",
  sql: string,
  values: number[],
  params: MysqlParameters,
  location: string,
): Promise<Record<string, unknown>[]> {
  let rows: Record<string, unknown>[];
  let columns: string[];
  try {
    const [result, fields] = await connection.execute(sql, values);
    rows = result as Record<string, unknown>[];
    columns = (fields ?? []).map((f) => f.name);
  } catch (error) {
    throw mysqlError(error, params, `read "${table}"`);
  }
  checkColumns(table, columns, location);
  return rows;
}

function checkParameters(params: MysqlParameters): void {
  const problems: string[] = [];
  if (typeof params.host !== "string" || params.host === "") problems.push("host is empty");
  if (!Number.isInteger(params.port) || params.port <= 0 || params.port > 65535) {
    problems.push(`port is ${JSON.stringify(params.port)}, expected 1–65535`);
  }
  if (typeof params.user !== "string" || params.user === "") problems.push("user is empty");
  if (typeof params.database !== "string" || params.database === "") problems.push("database is empty");
  if (typeof params.password !== "string") problems.push("password is not a string");
  if (problems.length > 0) {
    throw new MilvusdmError("CONFIG_INVALID", `mysql_parameter: ${problems.join("; ")}`);
  }
}

/** A MySQL failure as a `MYSQL_ERROR` that says what to check and never contains the password. */
export function mysqlError(error: unknown, params: MysqlParameters, action: string): MilvusdmError {
  const e = (error ?? {}) as { code?: string; errno?: number; message?: string; sqlMessage?: string };
  const code = typeof e.code === "string" ? e.code : "";
  const server = `${params.host}:${params.port}`;
  let message: string;
  let hint: string | undefined;
  switch (code) {
    case "ER_ACCESS_DENIED_ERROR":
    case "ER_ACCESS_DENIED_NO_PASSWORD_ERROR":
      message = `MySQL at ${server} refused user "${params.user}": access denied`;
      hint = "Check mysql_parameter.user and mysql_parameter.password";
      break;
    case "ER_DBACCESS_DENIED_ERROR":
    case "ER_TABLEACCESS_DENIED_ERROR":
      message = `MySQL user "${params.user}" may not read database "${params.database}" at ${server}`;
      hint = "Grant the user SELECT on the Milvus metadata database";
      break;
    case "ER_BAD_DB_ERROR":
      message = `MySQL database "${params.database}" does not exist at ${server}`;
      hint = "Check mysql_parameter.database: it is the database in the Milvus server's general.meta_uri";
      break;
    case "ER_NO_SUCH_TABLE":
      message = `MySQL database "${params.database}" at ${server} has no Milvus metadata tables (${
        safeText(e.sqlMessage ?? e.message ?? "", params.password)
      })`;
      hint = "Check mysql_parameter.database: it is the database in the Milvus server's general.meta_uri";
      break;
    case "ECONNREFUSED":
      message = `Cannot connect to MySQL at ${server}: connection refused`;
      hint = "Check mysql_parameter.host and mysql_parameter.port, and that the MySQL server runs";
      break;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      message = `Cannot connect to MySQL: host "${params.host}" not found`;
      hint = "Check mysql_parameter.host";
      break;
    case "ETIMEDOUT":
      message = `Cannot connect to MySQL at ${server}: timed out`;
      hint = "Check mysql_parameter.host and mysql_parameter.port, and any firewall between";
      break;
    default:
      message = `MySQL at ${server} failed to ${action}: ${
        safeText(e.sqlMessage ?? e.message ?? String(error), params.password)
      }${code === "" ? "" : ` (${code})`}`;
  }
  // The driver's error object is kept only as plain fields, so no stack or nested object can leak the password.
  return new MilvusdmError("MYSQL_ERROR", safeText(message, params.password), {
    cause: { code, errno: e.errno, message: safeText(e.message ?? "", params.password) },
    hint,
  });
}

/** Removes every occurrence of the password from a text (passwords under 4 characters cannot be told apart). */
function safeText(text: string, password: string): string {
  if (typeof password !== "string" || password.length < 4) return text;
  return text.split(password).join("***");
}
