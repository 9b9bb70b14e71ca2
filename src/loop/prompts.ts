// How questions, responses and verification requests become token ids. The verifier templates live here, in one
// place, and are written into every run's metadata.
import type { Tokenizer } from '../tokenizer/index.js';

export const VERIFIER_TEMPLATES = {
  tf: '\nIs the answer correct? ', // followed by True or False: the TF verifier reads P(True) / (P(True) + P(False))
  qe: '\nRating (1-5): ', // followed by one digit: the QE verifier takes the normalised expected rating
} as const;

export const QE_RATINGS = ['1', '2', '3', '4', '5'] as const;

/** Keeps BOS and the last tokens when a prompt exceeds the model's context (long GSM8K/MATH questions on a tiny model). */
export function clipPrompt(ids: number[], maxLength: number): number[] {
  return ids.length <= maxLength ? ids : [ids[0], ...ids.slice(ids.length - (maxLength - 1))];
}

/** BOS question SEP: the model answers after the separator. */
export function promptIds(tokenizer: Tokenizer, question: string, maxLength = Infinity): number[] {
  return clipPrompt([tokenizer.bosId, ...tokenizer.encode(question), tokenizer.sepId], maxLength);
}

/** A worked solution followed by EOS (the SFT target). */
export function responseIds(tokenizer: Tokenizer, solution: string): number[] {
  return [...tokenizer.encode(solution), tokenizer.eosId];
}

/** BOS question SEP response template: the next token is the verdict (True/False) or the rating (1–5). */
export function verificationPromptIds(
  tokenizer: Tokenizer,
  kind: keyof typeof VERIFIER_TEMPLATES,
  question: string,
  response: number[],
  maxLength = Infinity,
): number[] {
  const body = response[response.length - 1] === tokenizer.eosId ? response.slice(0, -1) : response;
  return clipPrompt([...promptIds(tokenizer, question), ...body, ...tokenizer.encode(VERIFIER_TEMPLATES[kind])], maxLength);
}

export interface VerdictIds {
  trueId: number;
  falseId: number;
  ratingIds: number[];
}

/** The single-piece tokens the verifiers read; a tokenizer without them cannot verify. */
export function verdictIds(tokenizer: Tokenizer): VerdictIds {
  const single = (text: string) => {
    const ids = tokenizer.encode(text);
    if (ids.length !== 1)
      throw new Error(`tokenizer ${tokenizer.modelPath}: '${text}' must be a single piece for the verifier (got ${ids.length})`);
    return ids[0];
  };
  return { trueId: single('True'), falseId: single('False'), ratingIds: QE_RATINGS.map(single) };
}
