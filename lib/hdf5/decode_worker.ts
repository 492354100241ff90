/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A worker that decodes bands of HDF5 chunks (band.ts, for decode.ts): it receives the stored chunks of a band
 * (transferred) and answers with the band (transferred) or the error.
 *
 * @module
 */
import { MilvusdmError } from "../errors.ts";
import { type BandRequest, type BandResponse, decodeBand } from "./band.ts";

self.onmessage = (event: MessageEvent<BandRequest>) => {
  const { id, spec, parts } = event.data;
  try {
    let data = decodeBand(spec, parts);
    // zlib's output lives in memory Deno does not let go to another thread: copy it into memory that can go
    if (!(data.constructor === Uint8Array && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength)) {
      data = new Uint8Array(data);
    }
    self.postMessage({ id, data } satisfies BandResponse, [data.buffer as ArrayBuffer]);
  } catch (error) {
    const code = error instanceof MilvusdmError ? error.code : "HDF5_INVALID";
    const message = error instanceof Error ? error.message : String(error);
    self.postMessage({ id, error: { code, message } } satisfies BandResponse);
  }
};
