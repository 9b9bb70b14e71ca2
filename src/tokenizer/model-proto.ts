// Reads the piece table out of a SentencePiece .model file (a ModelProto protobuf), because sentencepiece-js
// exposes no IdToPiece / GetPieceSize. Only field 1 (repeated SentencePiece {piece=1, score=2, type=3}) is read.

export type PieceType = 'normal' | 'unknown' | 'control' | 'user_defined' | 'unused' | 'byte';
export interface ModelPiece {
  piece: string;
  score: number;
  type: PieceType;
}

const PIECE_TYPES: Record<number, PieceType> = { 1: 'normal', 2: 'unknown', 3: 'control', 4: 'user_defined', 5: 'unused', 6: 'byte' };

class Reader {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly end = bytes.length,
  ) {}
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const byte = this.bytes[this.pos++];
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new Error('varint too long');
    }
  }
  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) {
      const length = this.varint(); // read before adding: `pos += varint()` would use the stale pos
      this.pos += length;
    } else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wireType}`);
    if (this.pos > this.end) throw new Error('truncated field');
  }
}

/** The pieces of a SentencePiece model, in id order. Throws on anything that is not a ModelProto. */
export function readModelPieces(bytes: Uint8Array): ModelPiece[] {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const top = new Reader(bytes);
  const pieces: ModelPiece[] = [];
  while (top.pos < top.end) {
    const key = top.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field !== 1 || wire !== 2) {
      top.skip(wire);
      continue;
    }
    const length = top.varint();
    const sub = new Reader(bytes, top.pos + length);
    sub.pos = top.pos;
    top.pos += length;
    if (top.pos > top.end) throw new Error('truncated SentencePiece entry');
    const entry: ModelPiece = { piece: '', score: 0, type: 'normal' };
    while (sub.pos < sub.end) {
      const k = sub.varint();
      const f = Math.floor(k / 8);
      const w = k & 7;
      if (f === 1 && w === 2) {
        const n = sub.varint();
        entry.piece = decoder.decode(bytes.subarray(sub.pos, sub.pos + n));
        sub.pos += n;
      } else if (f === 2 && w === 5) {
        entry.score = new DataView(bytes.buffer, bytes.byteOffset + sub.pos, 4).getFloat32(0, true);
        sub.pos += 4;
      } else if (f === 3 && w === 0) {
        const t = sub.varint();
        const type = PIECE_TYPES[t];
        if (type === undefined) throw new Error(`unknown piece type ${t}`);
        entry.type = type;
      } else {
        sub.skip(w);
      }
    }
    pieces.push(entry);
  }
  if (pieces.length === 0) throw new Error('no pieces found (not a SentencePiece model?)');
  return pieces;
}
