// How questions, responses and verification requests become token ids. Every template lives here, in one place, and
// is written into every run's metadata (promptTemplates). Two formats: the shipped SentencePiece model's plain
// `BOS question SEP response` layout, and chat turns rendered through a Hugging Face model's own chat template.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { modelDir } from '../model/index.js';
import { type HFTokenizer, type Tokenizer, loadHFTokenizer, loadTokenizer } from '../tokenizer/index.js';

export const VERIFIER_TEMPLATES = {
  tf: '\nIs the answer correct? ', // followed by True or False: the TF verifier reads P(True) / (P(True) + P(False))
  qe: '\nRating (1-5): ', // followed by one digit: the QE verifier takes the normalised expected rating
} as const;

export const QE_RATINGS = ['1', '2', '3', '4', '5'] as const;

/**
 * Chat turns for instruct models (written here; the paper's appendix prompts were not available to copy). The solver
 * states the answer format extractAnswer reads (`#### N`, or the last \boxed{} for MATH); the verifiers end on a
 * question whose first reply token is read: P(True) for tf, the expected digit 0–9 for qe.
 */
export const CHAT_TEMPLATES = {
  solver: {
    gsm8k:
      'Solve the following math problem. Reason step by step, then write the final answer as a number on the last line, ' +
      'in the form "#### <answer>".\n\nProblem: {question}',
    math: 'Solve the following math problem. Reason step by step, then put the final answer in \\boxed{}.\n\nProblem: {question}',
  },
  tf:
    'Below is a math problem and a proposed solution.\n\nProblem: {question}\n\nProposed solution: {response}\n\n' +
    'Is the proposed solution correct? Reply with exactly one word: True or False.',
  qe:
    'Below is a math problem and a proposed solution.\n\nProblem: {question}\n\nProposed solution: {response}\n\n' +
    'How likely is the proposed solution to be correct? Rate it from 0 (certainly wrong) to 9 (certainly correct). Reply with a single digit.',
} as const;

export const CHAT_QE_RATINGS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

/** What a chat-prompted tokenizer adds: the run's solver template and the ids that close an assistant turn. */
export interface ChatPrompting {
  solver: string;
  turnEnd: number[]; // what the chat template writes after an assistant message, up to its first special token (Phi: <|end|>)
  stopIds: number[]; // sampling ends at any of these: generation_config's eos list and the turn end
}

export type ChatTokenizer = HFTokenizer & { chat: ChatPrompting };

export function isChat(tokenizer: Tokenizer): tokenizer is ChatTokenizer {
  return (tokenizer as Partial<ChatTokenizer>).chat !== undefined;
}

/** Replaces {question} / {response} in one pass (a question that contains "{response}" stays as written). */
function fill(template: string, values: { question: string; response?: string }): string {
  return template.replace(/\{(question|response)\}/g, (_m, key: 'question' | 'response') => values[key] ?? '');
}

/** The ids the chat template writes right after an assistant message, through its first special token. */
function turnEndIds(tokenizer: HFTokenizer): number[] {
  const marker = 'SVGAP-END-OF-RESPONSE';
  const text = tokenizer.renderChat([
    { role: 'user', content: 'q' },
    { role: 'assistant', content: marker },
  ]);
  const ids = tokenizer.encode(text.slice(text.lastIndexOf(marker) + marker.length));
  const end = ids.findIndex((id) => tokenizer.specialIds.has(id) || tokenizer.stopIds.includes(id));
  if (end < 0)
    throw new Error(
      `${tokenizer.modelPath}: the chat template closes an assistant turn with no special token; cannot tell where a response ends`,
    );
  return ids.slice(0, end + 1);
}

/** An HF tokenizer set up for the loop's chat prompts on a dataset (MATH asks for \boxed{}, everything else for ####). */
export function chatTokenizer(tokenizer: HFTokenizer, dataset: string): ChatTokenizer {
  if (!tokenizer.chatTemplate)
    throw new Error(
      `${tokenizer.modelPath}: tokenizer_config.json has no chat_template; the loop prompts Hugging Face models with chat turns`,
    );
  const turnEnd = turnEndIds(tokenizer);
  const solver = dataset === 'math' ? CHAT_TEMPLATES.solver.math : CHAT_TEMPLATES.solver.gsm8k;
  // assigned, not spread: the HF tokenizer's bosId/sepId are getters that throw when the model has none
  return Object.assign(tokenizer, {
    chat: { solver, turnEnd, stopIds: [...new Set([...tokenizer.stopIds, turnEnd[turnEnd.length - 1]])] },
  });
}

/** The tokenizer of --model: a Hugging Face model directory's own (chat prompts), else the shipped SentencePiece model. */
export async function loadRunTokenizer(modelSpec: string, dataset: string): Promise<Tokenizer> {
  const dir = modelDir(modelSpec);
  if (existsSync(join(dir, 'tokenizer.json'))) return chatTokenizer(loadHFTokenizer(dir), dataset);
  return loadTokenizer();
}

/** Ids that end sampling besides eosId (none for the plain format). */
export function stopIds(tokenizer: Tokenizer): number[] {
  return isChat(tokenizer) ? tokenizer.chat.stopIds : [];
}

/** Every template a run uses, for run.json. */
export function promptTemplates(
  tokenizer: Tokenizer,
): { format: string; solver: string; verifier: Record<string, string> } & Record<string, unknown> {
  if (!isChat(tokenizer)) return { format: 'plain', solver: 'BOS {question} SEP', verifier: VERIFIER_TEMPLATES, qeRatings: QE_RATINGS };
  return {
    format: 'chat',
    solver: tokenizer.chat.solver,
    verifier: { tf: CHAT_TEMPLATES.tf, qe: CHAT_TEMPLATES.qe },
    qeRatings: CHAT_QE_RATINGS,
    chatTemplate: tokenizer.chatTemplate,
    turnEnd: tokenizer.chat.turnEnd,
    stopIds: tokenizer.chat.stopIds,
  };
}

/** Keeps BOS and the last tokens when a prompt exceeds the model's context (long GSM8K/MATH questions on a tiny model). */
export function clipPrompt(ids: number[], maxLength: number): number[] {
  return ids.length <= maxLength ? ids : [ids[0], ...ids.slice(ids.length - (maxLength - 1))];
}

/** BOS question SEP (the model answers after the separator), or the solver's user turn and the assistant header. */
export function promptIds(tokenizer: Tokenizer, question: string, maxLength = Infinity): number[] {
  if (isChat(tokenizer)) return clipPrompt(tokenizer.encode(promptText(tokenizer, question)!), maxLength);
  return clipPrompt([tokenizer.bosId, ...tokenizer.encode(question), tokenizer.sepId], maxLength);
}

/** A worked solution followed by EOS (the SFT target). */
export function responseIds(tokenizer: Tokenizer, solution: string): number[] {
  return [...tokenizer.encode(solution), tokenizer.eosId];
}

/** The chat-rendered solver prompt as text, for the samples files (undefined in the plain format, whose prompt is the question). */
export function promptText(tokenizer: Tokenizer, question: string): string | undefined {
  return isChat(tokenizer)
    ? tokenizer.renderChat([{ role: 'user', content: fill(tokenizer.chat.solver, { question }) }], { addGenerationPrompt: true })
    : undefined;
}

/**
 * The SFT target of a sampled response: the plain format trains on it as sampled (EOS included when the model stopped);
 * a chat response that stopped ends with the template's turn end (Phi: <|end|>) instead of whichever stop id it drew.
 */
export function sftResponseIds(tokenizer: Tokenizer, response: number[]): number[] {
  if (!isChat(tokenizer) || !tokenizer.chat.stopIds.includes(response[response.length - 1])) return response;
  return [...response.slice(0, -1), ...tokenizer.chat.turnEnd];
}

/**
 * BOS question SEP response template: the next token is the verdict (True/False) or the rating (1–5); in chat
 * format a user turn showing the question and the decoded response, then the assistant header.
 */
export function verificationPromptIds(
  tokenizer: Tokenizer,
  kind: keyof typeof VERIFIER_TEMPLATES,
  question: string,
  response: number[],
  maxLength = Infinity,
): number[] {
  if (isChat(tokenizer)) {
    const content = fill(CHAT_TEMPLATES[kind], { question, response: tokenizer.decode(response) });
    return clipPrompt(tokenizer.encodeChat([{ role: 'user', content }], { addGenerationPrompt: true }), maxLength);
  }
  const body = response[response.length - 1] === tokenizer.eosId ? response.slice(0, -1) : response;
  return clipPrompt([...promptIds(tokenizer, question), ...body, ...tokenizer.encode(VERIFIER_TEMPLATES[kind])], maxLength);
}

export interface VerdictIds {
  trueId: number;
  falseId: number;
  ratingIds: number[];
  ratings: number[]; // the value each rating id stands for (1..5 plain, 0..9 chat)
}

/** The single-piece tokens the verifiers read; a tokenizer without them cannot verify. */
export function verdictIds(tokenizer: Tokenizer): VerdictIds {
  const single = (text: string) => {
    const ids = tokenizer.encode(text);
    if (ids.length !== 1)
      throw new Error(`tokenizer ${tokenizer.modelPath}: '${text}' must be a single piece for the verifier (got ${ids.length})`);
    return ids[0];
  };
  const ratings = isChat(tokenizer) ? CHAT_QE_RATINGS : QE_RATINGS;
  return { trueId: single('True'), falseId: single('False'), ratingIds: ratings.map(single), ratings: ratings.map(Number) };
}
