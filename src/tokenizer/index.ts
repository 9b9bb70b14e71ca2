// SentencePiece tokenizer (sentencepiece-js wasm) for the svgap models. The shipped model
// models/tokenizer/svgap.model is made by scripts/train_tokenizer.ts: unigram, ~1,000 pieces, byte fallback,
// identity normalisation, no dummy prefix, digits / "\n" / "True" / "False" as single user-defined pieces.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PACKAGE_ROOT } from '../root.js';
import { SentencePieceProcessor } from 'sentencepiece-js';
import { readModelPieces, type ModelPiece } from './model-proto.js';

export interface Tokenizer {
  vocabSize: number;
  padId: number;
  bosId: number;
  eosId: number;
  sepId: number; // sepId: prompt/response separator
  encode(text: string): number[]; // no BOS/EOS added
  decode(ids: number[]): string; // skips pad/bos/eos/sep
  idToPiece(id: number): string;
  pieceToId(piece: string): number;
  modelPath: string; // for the run metadata / checkpoint tokenizer reference
}

export type { ModelPiece, PieceType } from './model-proto.js';
export { readModelPieces } from './model-proto.js';

export const DEFAULT_TOKENIZER_PATH: string = resolve(PACKAGE_ROOT, 'models', 'tokenizer', 'svgap.model');

/** Special pieces every svgap tokenizer must have (control symbols: never produced by encode, skipped by decode). */
export const SPECIAL_PIECES = { pad: '<pad>', bos: '<s>', eos: '</s>', sep: '<sep>' } as const;

/**
 * sentencepiece-js's emscripten module adds an uncaughtException and an unhandledRejection listener (rethrowing) per
 * processor; they pile up to MaxListenersExceededWarning and change how the process dies, so they are removed.
 */
async function loadProcessor(path: string): Promise<SentencePieceProcessor> {
  const events = ['uncaughtException', 'unhandledRejection'] as const;
  const listeners = (event: (typeof events)[number]) =>
    process.listeners(event as 'uncaughtException') as NodeJS.UncaughtExceptionListener[];
  const before = events.map((event) => new Set(listeners(event)));
  const spp = new SentencePieceProcessor();
  try {
    await spp.load(path);
  } finally {
    events.forEach((event, i) =>
      listeners(event)
        .filter((l) => !before[i].has(l))
        .forEach((l) => process.removeListener(event as 'uncaughtException', l)),
    );
  }
  return spp;
}

export async function loadTokenizer(modelPath: string = DEFAULT_TOKENIZER_PATH): Promise<Tokenizer> {
  const path = resolve(modelPath);
  if (!existsSync(path)) {
    throw new Error(
      `tokenizer model not found: ${path} (the default is ${DEFAULT_TOKENIZER_PATH}; ` +
        'rebuild it with `npx tsx scripts/train_tokenizer.ts`)',
    );
  }
  let pieces: ModelPiece[];
  try {
    pieces = readModelPieces(readFileSync(path));
  } catch (err) {
    throw new Error(`tokenizer model ${path} is not a SentencePiece model: ${(err as Error).message}`);
  }
  const ids = new Map<string, number>();
  pieces.forEach((p, id) => ids.set(p.piece, id));
  const special = (name: keyof typeof SPECIAL_PIECES): number => {
    const id = ids.get(SPECIAL_PIECES[name]);
    if (id === undefined || pieces[id].type !== 'control') {
      throw new Error(`tokenizer model ${path} lacks the control piece ${SPECIAL_PIECES[name]} (${name})`);
    }
    return id;
  };
  const padId = special('pad');
  const bosId = special('bos');
  const eosId = special('eos');
  const sepId = special('sep');

  const spp = await loadProcessor(path);
  // sentencepiece-js ignores the load status: check that the wasm side encodes with the same piece table.
  const probe = pieces.findIndex((p) => p.type === 'user_defined' || p.type === 'normal');
  let probeIds: number[] = [];
  try {
    probeIds = spp.encodeIds(pieces[probe].piece);
  } catch {
    // reported below
  }
  if (probe < 0 || probeIds.length !== 1 || probeIds[0] !== probe) throw new Error(`sentencepiece-js failed to load ${path}`);

  const skipped = new Set([padId, bosId, eosId, sepId]);
  const vocabSize = pieces.length;
  return {
    vocabSize,
    padId,
    bosId,
    eosId,
    sepId,
    modelPath: path,
    encode: (text: string) => spp.encodeIds(text),
    decode: (tokenIds: number[]) => {
      for (const id of tokenIds) {
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`decode: token id ${id} outside [0, ${vocabSize})`);
      }
      const kept = tokenIds.filter((id) => !skipped.has(id));
      return kept.length === 0 ? '' : spp.decodeIds(kept);
    },
    idToPiece: (id: number) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`idToPiece: token id ${id} outside [0, ${vocabSize})`);
      return pieces[id].piece;
    },
    pieceToId: (piece: string) => {
      const id = ids.get(piece);
      if (id === undefined) throw new Error(`pieceToId: "${piece}" is not a piece of ${path}`);
      return id;
    },
  };
}

export { type ChatMessage, type HFTokenizer, loadHFTokenizer } from './hf.js';
