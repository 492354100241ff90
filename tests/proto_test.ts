/**
 * The protobuf codec behind the hand-encoded control calls (lib/milvus/proto.ts), checked against the reference:
 * messages milvusdm writes are parsed by Python's protobuf with pymilvus's generated Milvus classes, and messages
 * those classes serialize are read by milvusdm. Corrupt bytes are a typed error, never a hang or a huge allocation.
 * (The calls themselves are exercised against the real server by every job test.)
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { ProtoError, ProtoMessage, ProtoWriter } from "../lib/milvus/proto.ts";
import { VENV_PYTHON } from "./helpers.ts";

async function python(script: string, input: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
  const child = new Deno.Command(VENV_PYTHON, {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(`python failed: ${new TextDecoder().decode(out.stderr)}`);
  return out.stdout;
}

const PRELUDE = `
import sys, json
from pymilvus.grpc_gen import milvus_pb2, schema_pb2, common_pb2
from google.protobuf.json_format import MessageToDict
`;

Deno.test("messages written by milvusdm parse in Python's protobuf as the Milvus classes", async () => {
  const schema = new ProtoWriter().string(1, "c").string(2, "created by milvusdm")
    .message(4, new ProtoWriter().string(2, "id").bool(3, true).uint(5, 5).bool(8, false))
    .message(4, new ProtoWriter().string(2, "v").uint(5, 101).keyValues(6, { dim: 128 }));
  const create = new ProtoWriter().string(2, "db1").string(3, "c").message(4, schema).uint(6, 2).finish();
  const bigIds = [0n, 1n, 2n ** 53n + 1n, 2n ** 63n - 1n, -1n, -(2n ** 63n)];
  const flushState = new ProtoWriter().packedInts(1, bigIds).finish();
  const importReq = new ProtoWriter().string(1, "c").string(2, "p").strings(5, ["/a/id.npy", "/a/v.npy"])
    .string(7, "db1").finish();
  const task = new ProtoWriter().uint(1, 461_123_456_789_012_345n).finish();
  const frames = [create, flushState, importReq, task];
  const joined = new Uint8Array(frames.reduce((n, f) => n + 4 + f.length, 0));
  let pos = 0;
  for (const f of frames) {
    new DataView(joined.buffer).setUint32(pos, f.length);
    joined.set(f, pos + 4);
    pos += 4 + f.length;
  }
  const out = await python(
    PRELUDE + `
data = sys.stdin.buffer.read()
msgs, pos = [], 0
while pos < len(data):
    n = int.from_bytes(data[pos:pos+4], "big"); msgs.append(data[pos+4:pos+4+n]); pos += 4 + n
c = milvus_pb2.CreateCollectionRequest(); c.ParseFromString(msgs[0])
s = schema_pb2.CollectionSchema(); s.ParseFromString(c.schema)
f = milvus_pb2.GetFlushStateRequest(); f.ParseFromString(msgs[1])
i = milvus_pb2.ImportRequest(); i.ParseFromString(msgs[2])
t = milvus_pb2.GetImportStateRequest(); t.ParseFromString(msgs[3])
print(json.dumps({
  "db": c.db_name, "name": c.collection_name, "consistency": c.consistency_level,
  "schema": [s.name, s.description],
  "fields": [[x.name, x.is_primary_key, x.data_type, x.autoID, {p.key: p.value for p in x.type_params}] for x in s.fields],
  "segments": [str(v) for v in f.segmentIDs],
  "import": [i.collection_name, i.partition_name, list(i.files), i.db_name],
  "task": str(t.task),
}))
`,
    joined,
  );
  const got = JSON.parse(new TextDecoder().decode(out));
  assertEquals(got, {
    db: "db1",
    name: "c",
    consistency: 2,
    schema: ["c", "created by milvusdm"],
    fields: [["id", true, 5, false, {}], ["v", false, 101, false, { dim: "128" }]],
    segments: bigIds.map(String),
    import: ["c", "p", ["/a/id.npy", "/a/v.npy"], "db1"],
    task: "461123456789012345",
  });
});

Deno.test("replies serialized by Python's protobuf are read back field for field", async () => {
  const out = await python(
    PRELUDE + `
def status(code=0, reason=""):
    return common_pb2.Status(error_code=code, reason=reason, code=code and 100)
d = milvus_pb2.DescribeCollectionResponse(status=status(), collectionID=44)
d.schema.name = "c"
d.schema.fields.add(name="pk", is_primary_key=True, data_type=5, autoID=True)
v = d.schema.fields.add(name="emb", data_type=100)
v.type_params.add(key="dim", value="256")
fl = milvus_pb2.FlushResponse(status=status(), db_name="default")
fl.coll_segIDs["c"].data.extend([7, 2**60, -3])
q = milvus_pb2.QueryResults(status=status())
q.fields_data.add(type=5, field_name="count(*)").scalars.long_data.data.append(1234567890123)
li = milvus_pb2.ListImportTasksResponse(status=status(4, "collection not found"))
li.tasks.add(state=6, row_count=1000, id=2**62 + 5).infos.add(key="files", value="/a/id.npy,/a/v.npy")
li.tasks.add(state=1, id=3).infos.add(key="failed_reason", value="bad file")
for m in (d, fl, q, li):
    b = m.SerializeToString()
    sys.stdout.buffer.write(len(b).to_bytes(4, "big") + b)
`,
  );
  const msgs: ProtoMessage[] = [];
  for (let pos = 0; pos < out.length;) {
    const n = new DataView(out.buffer, out.byteOffset).getUint32(pos);
    msgs.push(new ProtoMessage(out.subarray(pos + 4, pos + 4 + n)));
    pos += 4 + n;
  }
  const [describe, flush, query, list] = msgs;
  assertEquals(describe.message(1).int(1), 0);
  assertEquals(describe.int64(3), 44n);
  const fields = describe.message(2).messages(4);
  assertEquals(fields.map((f) => [f.string(2), f.bool(3), f.int(5), f.bool(8)]), [
    ["pk", true, 5, true],
    ["emb", false, 100, false],
  ]);
  assertEquals(fields[1].keyValues(6).get("dim"), "256");
  assertEquals(flush.mapOfMessages(3).get("c")?.int64s(1), [7n, 2n ** 60n, -3n]);
  assertEquals(query.messages(2)[0].string(2), "count(*)");
  assertEquals(query.messages(2)[0].message(3).message(3).int64s(1), [1234567890123n]);
  assertEquals([list.message(1).int(1), list.message(1).string(2), list.message(1).int(3)], [
    4,
    "collection not found",
    100,
  ]);
  const tasks = list.messages(2);
  assertEquals(tasks.map((t) => [t.int(2), t.int64(6), t.int(3)]), [[6, 2n ** 62n + 5n, 1000], [1, 3n, 0]]);
  assertEquals(tasks[0].keyValues(5).get("files"), "/a/id.npy,/a/v.npy");
  assertEquals(tasks[1].keyValues(5).get("failed_reason"), "bad file");
});

Deno.test("corrupt reply bytes are a ProtoError: cut-off varints, lengths past the end, unknown wire types", () => {
  const valid = new ProtoWriter().string(2, "hello").uint(3, 300).finish();
  new ProtoMessage(valid);
  for (let cut = 1; cut < valid.length; cut++) {
    if (cut === 7) continue; // a whole field 2 and nothing else: valid
    assertThrows(() => new ProtoMessage(valid.subarray(0, cut)), ProtoError);
  }
  // A length of 2^32 (a corrupt size field) is refused before anything is allocated.
  assertThrows(() => new ProtoMessage(Uint8Array.of(0x12, 0x80, 0x80, 0x80, 0x80, 0x10, 1)), ProtoError, "past");
  assertThrows(() => new ProtoMessage(Uint8Array.of(0x0b)), ProtoError, "wire type 3");
  assertThrows(() => new ProtoMessage(new Uint8Array(11).fill(0x80)), ProtoError, "longer than 10 bytes");
  // A packed run whose last varint is cut off.
  const packed = new ProtoMessage(Uint8Array.of(0x0a, 0x02, 0x01, 0x80));
  assertThrows(() => packed.int64s(1), ProtoError, "cut off");
  // Absent fields read as proto3 defaults.
  const empty = new ProtoMessage(new Uint8Array(0));
  assert(empty.string(9) === "" && empty.int(9) === 0 && !empty.bool(9) && empty.int64s(9).length === 0);
});
