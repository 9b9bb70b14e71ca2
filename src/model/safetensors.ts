// A small reader/writer for the safetensors format: 8-byte little-endian header length, JSON header, raw little-endian data.
import { readFileSync } from 'node:fs';

export type SafeDtype = 'F32' | 'I32';

export interface NamedArray {
  dtype: SafeDtype;
  shape: number[];
  data: Float32Array | Int32Array;
}

export function encodeSafetensors(tensors: Record<string, NamedArray>, metadata: Record<string, string> = {}): Buffer {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const bytes = t.data.byteLength;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let headerJson = JSON.stringify(header);
  headerJson += ' '.repeat((8 - (headerJson.length % 8)) % 8); // align data to 8 bytes, as the reference writer does
  const headerBytes = Buffer.from(headerJson, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let position = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors[name]!;
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, position);
    position += t.data.byteLength;
  }
  return out;
}

/** Parses a safetensors file; any inconsistency is an error naming the file (and tensor). */
export function readSafetensors(path: string): { tensors: Record<string, NamedArray>; metadata: Record<string, string> } {
  const buffer = readFileSync(path);
  const fail = (why: string): never => {
    throw new Error(`${path}: not a valid safetensors file: ${why}`);
  };
  if (buffer.length < 8) fail('shorter than its 8-byte header length');
  const headerLength = Number(buffer.readBigUInt64LE(0));
  if (headerLength <= 0 || 8 + headerLength > buffer.length) fail(`header length ${headerLength} does not fit in ${buffer.length} bytes`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buffer.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    return fail(`header is not JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(`header is not a JSON object (${JSON.stringify(header)})`);
  const dataStart = 8 + headerLength;
  const dataLength = buffer.length - dataStart;
  const tensors: Record<string, NamedArray> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(`tensor '${name}' has a malformed entry (${JSON.stringify(entry)})`);
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (dtype !== 'F32' && dtype !== 'I32') fail(`tensor '${name}' has dtype ${dtype}; only F32 and I32 are supported`);
    if (!Array.isArray(shape) || !Array.isArray(offsets) || offsets.length !== 2) fail(`tensor '${name}' has a malformed entry`);
    const count = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = offsets;
    if (begin < 0 || end > dataLength || end - begin !== count * 4) {
      fail(`tensor '${name}' (shape [${shape}]) needs ${count * 4} bytes at [${begin}, ${end}) but the data section has ${dataLength}`);
    }
    const bytes = buffer.subarray(dataStart + begin, dataStart + end);
    const copy = new ArrayBuffer(bytes.length);
    new Uint8Array(copy).set(bytes);
    tensors[name] = { dtype: dtype as SafeDtype, shape, data: dtype === 'F32' ? new Float32Array(copy) : new Int32Array(copy) };
  }
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  return { tensors, metadata };
}
