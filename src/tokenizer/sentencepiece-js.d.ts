// Types for the parts of sentencepiece-js 1.1.0 (CommonJS, wasm loaded asynchronously) that we use.
declare module 'sentencepiece-js' {
  export class SentencePieceProcessor {
    load(modelPath: string): Promise<void>;
    encodeIds(text: string): number[];
    encodePieces(text: string): string[];
    decodeIds(ids: number[]): string;
  }
}
