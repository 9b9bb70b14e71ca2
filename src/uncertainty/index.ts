// The paper's uncertainty: U = total sequence NLL of a response under the current model (the solver-verifier gap
// paper, Sec. 3), with its length-normalised form and two diagnostics, all from one teacher-forced pass.
import type { Model } from '../model/model.js';
import { score } from '../model/sample.js';
import { mean } from '../stats.js';

export interface ResponseUncertainty {
  nll: number; // U
  normalizedNll: number; // U / response length: the hybrid best-of-N selection key
  length: number;
  entropy: number; // mean next-token entropy over the response
  selfCertainty: number; // mean KL(uniform ‖ p) over the response
}

/** Scores every (prompt, response) pair under the model. */
export function responseUncertainty(
  model: Model,
  prompts: number[][],
  responses: number[][],
  options: { padId: number; batchSize?: number },
): ResponseUncertainty[] {
  const scored = score(model, prompts, responses, options);
  return scored.nll.map((nll, i) => ({
    nll,
    normalizedNll: scored.normalizedNll[i],
    length: scored.length[i],
    entropy: scored.entropy[i],
    selfCertainty: scored.selfCertainty[i],
  }));
}

function meanOf(values: number[]): number {
  if (values.length === 0) throw new Error('mean of no values'); // U_s / U_v of nothing is a bug upstream
  return mean(values);
}

/** U_s: mean U over all sampled responses. */
export function solverUncertainty(sampled: ResponseUncertainty[]): number {
  return meanOf(sampled.map((u) => u.nll));
}

/** U_v: mean U over the verifier's picks. */
export function verifierUncertainty(picks: ResponseUncertainty[]): number {
  return meanOf(picks.map((u) => u.nll));
}

/**
 * Mean NLL per token: Σ U / Σ length over the responses, so U_s = per-token U_s × mean sample length exactly and a
 * fall in U splits into a fall per token and a fall in length (log U = log per-token + log length).
 */
export function perTokenUncertainty(responses: Pick<ResponseUncertainty, 'nll' | 'length'>[]): number {
  if (responses.length === 0) throw new Error('per-token uncertainty of no responses');
  const tokens = responses.reduce((s, u) => s + u.length, 0);
  return tokens > 0 ? responses.reduce((s, u) => s + u.nll, 0) / tokens : 0;
}

/** G = U_s − U_v (> 0: the verifier's picks are more certain than the solver's average sample). */
export function gap(sampled: ResponseUncertainty[], picks: ResponseUncertainty[]): number {
  return solverUncertainty(sampled) - verifierUncertainty(picks);
}
