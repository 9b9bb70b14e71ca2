// A reader/writer for the safetensors format: 8-byte little-endian header length, JSON header, raw little-endian data.
// Reads are positioned (fs.readSync at offsets) and chunked, so files past Node's 2 GiB readFileSync limit load and
// only one tensor (plus one chunk of raw bytes) is in memory at a time. BF16 and F16 are converted to float32.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export type SafeDtype = 'F32' | 'I32' | 'BF16' | 'F16';

const DTYPE_BYTES: Record<SafeDtype, number> = { F32: 4, I32: 4, BF16: 2, F16: 2 };
const MAX_HEADER_BYTES = 100_000_000; // the reference implementation's limit
const CHUNK_ELEMENTS = 1 << 22; // raw bytes read per readSync: 8-16 MiB

export interface NamedArray {
  dtype: SafeDtype;
  shape: number[];
  data: Float32Array | Int32Array | Uint16Array; // Uint16Array holds the raw bits of BF16 / F16
}

/** One tensor's place in a file: absolute byte range [begin, end). */
export interface TensorEntry {
  dtype: SafeDtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  path: string;
  tensors: Record<string, TensorEntry>;
  metadata: Record<string, string>;
}

export function encodeSafetensors(tensors: Record<string, NamedArray>, metadata: Record<string, string> = {}): Buffer {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
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
    const t = tensors[name];
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, position);
    position += t.data.byteLength;
  }
  return out;
}

/** Reads exactly `bytes.length` bytes at `position` (readSync may return less, e.g. past 2 GiB per call). */
function readExactly(fd: number, bytes: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < bytes.length) {
    const n = readSync(fd, bytes, done, bytes.length - done, position + done);
    if (n === 0) throw new Error(`${path}: file ends at byte ${position + done}, expected ${bytes.length - done} more bytes`);
    done += n;
  }
}

/** Opens `path` for reading, hands the descriptor to `use`, and always closes it. */
export function withFile<T>(path: string, use: (fd: number) => T): T {
  const fd = openSync(path, 'r');
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

/** Parses and checks a file's header (names, dtypes, shapes, byte ranges) without reading any tensor data. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fail = (why: string): never => {
    throw new Error(`${path}: not a valid safetensors file: ${why}`);
  };
  return withFile(path, (fd) => {
    const fileSize = fstatSync(fd).size;
    if (fileSize < 8) fail('shorter than its 8-byte header length');
    const lengthBytes = new Uint8Array(8);
    readExactly(fd, lengthBytes, 0, path);
    const headerLength = Number(Buffer.from(lengthBytes).readBigUInt64LE(0));
    if (headerLength <= 0 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > fileSize)
      fail(`header length ${headerLength} does not fit in ${fileSize} bytes`);
    const headerBytes = new Uint8Array(headerLength);
    readExactly(fd, headerBytes, 8, path);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(headerBytes).toString('utf8')) as Record<string, unknown>;
    } catch (error) {
      return fail(`header is not JSON (${(error as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header))
      fail(`header is not a JSON object (${JSON.stringify(header)})`);
    const dataStart = 8 + headerLength;
    const dataLength = fileSize - dataStart;
    const tensors: Record<string, TensorEntry> = {};
    for (const [name, entry] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
        fail(`tensor '${name}' has a malformed entry (${JSON.stringify(entry)})`);
      const { dtype, shape, data_offsets: offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
      if (!(dtype in DTYPE_BYTES)) fail(`tensor '${name}' has dtype ${dtype}; only ${Object.keys(DTYPE_BYTES).join(', ')} are supported`);
      if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0) || !Array.isArray(offsets) || offsets.length !== 2)
        fail(`tensor '${name}' has a malformed entry`);
      const bytes = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype as SafeDtype];
      const [begin, end] = offsets;
      if (!(begin >= 0) || end > dataLength || end - begin !== bytes) {
        fail(
          `tensor '${name}' (${dtype}, shape [${shape}]) needs ${bytes} bytes at [${begin}, ${end}) but the data section has ${dataLength}`,
        );
      }
      tensors[name] = { dtype: dtype as SafeDtype, shape, begin: dataStart + begin, end: dataStart + end };
    }
    return { path, tensors, metadata: (header.__metadata__ ?? {}) as Record<string, string> };
  });
}

let halfTable: Float32Array | undefined;

/** float32 value of every IEEE half bit pattern (built once: 256 KB). */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0)
      halfTable[h] = sign * mantissa * 2 ** -24; // zero and subnormals
    else if (exponent === 31) halfTable[h] = mantissa ? NaN : sign * Infinity;
    else halfTable[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return halfTable;
}

/** Converts raw little-endian elements of `dtype` into float32 (BF16: the high half of a float32's bits). */
function toFloat32(dtype: SafeDtype, raw: Uint8Array, count: number, dest: Float32Array, at: number): void {
  if (dtype === 'F32') {
    dest.set(new Float32Array(raw.buffer, raw.byteOffset, count), at);
  } else if (dtype === 'I32') {
    const ints = new Int32Array(raw.buffer, raw.byteOffset, count);
    for (let i = 0; i < count; i++) dest[at + i] = ints[i];
  } else if (dtype === 'BF16') {
    const halves = new Uint16Array(raw.buffer, raw.byteOffset, count);
    const bits = new Uint32Array(dest.buffer, dest.byteOffset + at * 4, count);
    for (let i = 0; i < count; i++) bits[i] = halves[i] << 16;
  } else {
    const halves = new Uint16Array(raw.buffer, raw.byteOffset, count);
    const table = halfToFloatTable();
    for (let i = 0; i < count; i++) dest[at + i] = table[halves[i]];
  }
}

/**
 * Reads one tensor as float32 into `dest` starting at element `at` (a new array when omitted), `CHUNK_ELEMENTS` raw
 * elements per positioned read. `fd` is an open descriptor of `path`.
 */
export function readTensorFloat32(fd: number, path: string, entry: TensorEntry, dest?: Float32Array, at = 0): Float32Array {
  const count = entry.shape.reduce((a, b) => a * b, 1);
  const out = dest ?? new Float32Array(count);
  if (at + count > out.length) throw new Error(`${path}: tensor of ${count} elements does not fit at ${at} in ${out.length}`);
  const width = DTYPE_BYTES[entry.dtype];
  const chunk = new Uint8Array(Math.min(count, CHUNK_ELEMENTS) * width);
  for (let done = 0; done < count; done += CHUNK_ELEMENTS) {
    const n = Math.min(CHUNK_ELEMENTS, count - done);
    const raw = chunk.subarray(0, n * width);
    readExactly(fd, raw, entry.begin + done * width, path);
    toFloat32(entry.dtype, raw, n, out, at + done);
  }
  return out;
}

/** Reads a whole file: F32 and I32 as stored, BF16 and F16 converted to F32; any inconsistency names the file and tensor. */
export function readSafetensors(path: string): { tensors: Record<string, NamedArray>; metadata: Record<string, string> } {
  const header = readSafetensorsHeader(path);
  const tensors: Record<string, NamedArray> = {};
  withFile(path, (fd) => {
    for (const [name, entry] of Object.entries(header.tensors)) {
      const values = readTensorFloat32(fd, path, entry);
      tensors[name] =
        entry.dtype === 'I32'
          ? { dtype: 'I32', shape: entry.shape, data: Int32Array.from(values) }
          : { dtype: 'F32', shape: entry.shape, data: values };
    }
  });
  return { tensors, metadata: header.metadata };
}

/** float32 → bfloat16 bits, rounding to nearest even (NaN stays NaN), as torch's `.to(torch.bfloat16)` does. */
export function float32ToBf16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const u = bits[i];
    out[i] = (u & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  }
  return out;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 === 1 ? r - 1 : r;
}

/** float32 → IEEE half bits, rounding to nearest even; overflow → ±Infinity, tiny values → subnormals or ±0. */
export function float32ToF16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const u = bits[i];
    const sign = (u >>> 16) & 0x8000;
    const abs = u & 0x7fffffff;
    if (abs > 0x7f800000)
      out[i] = sign | 0x7e00; // NaN
    else if (abs >= 0x477ff000)
      out[i] = sign | 0x7c00; // rounds past the largest half (65504)
    else if (abs < 0x38800000)
      out[i] = sign | roundHalfEven(Math.abs(values[i]) * 2 ** 24); // subnormal: a multiple of 2^-24
    else {
      const mantissa = abs & 0x7fffff;
      const half =
        ((((abs >>> 23) - 112) << 10) | (mantissa >>> 13)) +
        ((mantissa & 0x1fff) > 0x1000 || ((mantissa & 0x1fff) === 0x1000 && (mantissa >>> 13) & 1) ? 1 : 0);
      out[i] = sign | half;
    }
  }
  return out;
}
