// A verifier is a value: (questions, candidates) → a score in [0, 1] per candidate. The self-verifiers read the run's
// own model (tf, qe) or none (likelihood, majority); the oracle reads the reference; a frozen checkpoint judges with
// the run's template. The round and the evaluation only call them.
import { disposeModel, loadCheckpoint, type Model } from '../model/index.js';
import { preferredEmbedMode } from '../engine/index.js';
import { resolve } from 'node:path';
import type { Tokenizer } from '../tokenizer/index.js';
import { type Candidate, type Question, type VerifierKind, judgeScores } from './verify.js';
import { type Sampler, localSampler } from './sampling.js';

export type Verifier = (questions: Question[], candidates: Candidate[][]) => number[][];

/** A verifier holding weights of its own (a frozen checkpoint): dispose frees them. */
export type OwnedVerifier = Verifier & { dispose: () => void };

/** The self-verifier `kind` judging with the sampler's engine (the model being trained, read at each call). */
export function selfVerifier(kind: VerifierKind, sampler: Pick<Sampler, 'model' | 'engine'>, tokenizer: Tokenizer): Verifier {
  const read = (prompts: number[][], ids: number[]) => sampler.engine.tokenLogProbs(prompts, ids);
  return (questions, candidates) =>
    judgeScores(kind, { read, context: () => sampler.model.config.max_position_embeddings }, tokenizer, questions, candidates);
}

/** The oracle: 1 when the candidate's final answer is correct. */
export const oracleVerifier: Verifier = (_questions, candidates) => candidates.map((group) => group.map((c) => (c.correct ? 1 : 0)));

/**
 * The external verifier of --external-verifier SPEC: the oracle, or the checkpoint in directory SPEC, frozen, judging
 * with the run's template (tf when the run's self-verifier reads no model).
 */
export function externalVerifier(spec: string, selfKind: VerifierKind, tokenizer: Tokenizer): OwnedVerifier {
  if (spec === 'oracle') return Object.assign<Verifier, { dispose: () => void }>((q, c) => oracleVerifier(q, c), { dispose: () => {} });
  const frozen = loadCheckpoint(resolve(spec), preferredEmbedMode()).model;
  const kind: VerifierKind = selfKind === 'qe' ? 'qe' : 'tf';
  return Object.assign(selfVerifier(kind, localSampler(frozen, tokenizer, 64), tokenizer), { dispose: () => disposeModel(frozen) });
}
