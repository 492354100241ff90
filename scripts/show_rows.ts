/**
 * Prints a collection's row count and some rows read back by id: `deno run -A scripts/show_rows.ts URI NAME ID...`.
 */
import { MilvusClient } from "@zilliz/milvus2-sdk-node";

const [uri, collection, ...ids] = Deno.args;
const client = new MilvusClient({ address: uri, logLevel: "error" });
const count = await client.query({
  collection_name: collection,
  output_fields: ["count(*)"],
  consistency_level: "Strong" as never,
});
console.log(`${collection}: count(*) = ${count.data[0]?.["count(*)"]}`);
const rows = await client.query({
  collection_name: collection,
  expr: `id in [${ids.join(",")}]`,
  output_fields: ["id", "embedding"],
  consistency_level: "Strong" as never,
});
for (const row of rows.data) {
  const v = row.embedding as number[];
  console.log(`  id ${row.id}: [${v.slice(0, 4).map((x) => x.toFixed(6)).join(", ")}, … ${v.length} values]`);
}
await client.closeConnection();
