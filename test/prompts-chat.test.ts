// Chat prompts for Hugging Face instruct models (src/loop/prompts.ts): the solver and verifier turns rendered through
// the model's chat template, the verdict tokens, the SFT loss mask (assistant tokens + <|end|> only), and the plain
// format of the shipped model left as it was.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/index.js';
import { extractAnswer } from '../src/data/index.js';
import { loadHFModel } from '../src/model/hf.js';
import { type Model, disposeModel } from '../src/model/model.js';
import { nextTokenLogProbs } from '../src/model/sample.js';
import { sftBatch } from '../src/model/train.js';
import {
  type ChatTokenizer,
  CHAT_TEMPLATES,
  chatTokenizer,
  loadRunTokenizer,
  promptIds,
  promptTemplates,
  promptText,
  sftResponseIds,
  stopIds,
  verdictIds,
  verificationPromptIds,
  VERIFIER_TEMPLATES,
} from '../src/loop/prompts.js';
import { verifierScores } from '../src/loop/verify.js';
import { loadHFTokenizer, loadTokenizer } from '../src/tokenizer/index.js';
import { PHI4_TOKENS, writeTinyPhi3 } from './helpers.js';

const END = PHI4_TOKENS['<|end|>'];
const ASSISTANT = PHI4_TOKENS['<|assistant|>'];
const USER = PHI4_TOKENS['<|user|>'];
const ENDOFTEXT = 199999;

let root: string;
let dir: string;
let tok: ChatTokenizer;
let model: Model;
beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  root = mkdtempSync(join(tmpdir(), 'svgap-chat-'));
  dir = join(root, 'tiny-phi3');
  mkdirSync(dir);
  writeTinyPhi3(dir, 5);
  tok = chatTokenizer(loadHFTokenizer(dir), 'gsm8k');
  model = loadHFModel(dir);
});
afterAll(() => {
  disposeModel(model);
  rmSync(root, { recursive: true, force: true });
});

describe('chat prompts', () => {
  it('the solver prompt is the user turn through the chat template, then the assistant header; the answer format is stated', () => {
    const question = 'Tom has 3 apples and buys {response} 2 more. How many?';
    const text = promptText(tok, question)!;
    expect(text).toBe(`<|user|>${CHAT_TEMPLATES.solver.gsm8k.replace('{question}', () => question)}<|end|><|assistant|>`);
    const ids = promptIds(tok, question);
    expect(ids[0]).toBe(USER);
    expect(ids.slice(-2)).toEqual([END, ASSISTANT]);
    expect(tok.decode(ids, { skipSpecial: false })).toBe(text);
    // the format it asks for is the one extractAnswer reads
    expect(extractAnswer('3 + 2 = 5\n#### 5')).toBe('5');
    expect(promptText(chatTokenizer(loadHFTokenizer(dir), 'math'), 'x')).toContain('\\boxed{}');
    expect(extractAnswer('so it is \\boxed{\\frac{1}{2}}')).toBe('\\frac{1}{2}');
  });

  it('verifier prompts show the question and the decoded response; the verdict tokens are single o200k pieces', () => {
    const response = [...tok.encode('3 + 2 = 5\n#### 5'), END];
    const ids = verificationPromptIds(tok, 'tf', 'Tom has 3 apples.', response);
    const text = tok.decode(ids, { skipSpecial: false });
    expect(text).toBe(
      `<|user|>${CHAT_TEMPLATES.tf.replace('{question}', 'Tom has 3 apples.').replace('{response}', '3 + 2 = 5\n#### 5')}<|end|><|assistant|>`,
    );
    const qe = tok.decode(verificationPromptIds(tok, 'qe', 'Q', response), { skipSpecial: false });
    expect(qe).toContain('from 0 (certainly wrong) to 9 (certainly correct)');
    const verdict = verdictIds(tok);
    expect(tok.decode([verdict.trueId])).toBe('True');
    expect(tok.decode([verdict.falseId])).toBe('False');
    expect(verdict.ratingIds.map((id) => tok.decode([id]))).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(verdict.ratings).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('tf reads P(True)/(P(True)+P(False)), qe the expected digit / 9, from the next-token distribution after the assistant header', () => {
    const questions = [{ question: 'Tom has 3 apples and buys 2 more. How many?', answer: '5' }];
    const tokens = [...tok.encode('3 + 2 = 5\n#### 5'), END];
    const candidates = [
      [{ tokens, text: '', answer: '5', correct: true, nll: 1, normalizedNll: 1, length: tokens.length, entropy: 0, selfCertainty: 0 }],
    ];
    const lpTf = nextTokenLogProbs(model, [verificationPromptIds(tok, 'tf', questions[0].question, tokens)], { padId: tok.padId })[0];
    const pTrue = Math.exp(lpTf[tok.pieceToId('True')]);
    const pFalse = Math.exp(lpTf[tok.pieceToId('False')]);
    expect(verifierScores('tf', model, tok, questions, candidates)[0][0]).toBeCloseTo(pTrue / (pTrue + pFalse), 10);
    const lpQe = nextTokenLogProbs(model, [verificationPromptIds(tok, 'qe', questions[0].question, tokens)], { padId: tok.padId })[0];
    const p = Array.from({ length: 10 }, (_, d) => Math.exp(lpQe[tok.pieceToId(String(d))]));
    const qe = verifierScores('qe', model, tok, questions, candidates)[0][0];
    expect(qe).toBeCloseTo(p.reduce((s, x, d) => s + x * d, 0) / p.reduce((s, x) => s + x, 0) / 9, 10);
    expect(qe).toBeGreaterThanOrEqual(0);
    expect(qe).toBeLessThanOrEqual(1);
  });

  it('SFT loss covers the assistant tokens and the closing <|end|> only: not the prompt, not <|endoftext|>', () => {
    const prompt = promptIds(tok, 'Tom has 3 apples and buys 2 more. How many?');
    const content = tok.encode('3 + 2 = 5\n#### 5');
    // stopped on <|endoftext|>: trained as the template closes the turn, with <|end|>; stopped on <|end|>: unchanged
    expect(sftResponseIds(tok, [...content, ENDOFTEXT])).toEqual([...content, END]);
    expect(sftResponseIds(tok, [...content, END])).toEqual([...content, END]);
    expect(sftResponseIds(tok, content)).toEqual(content); // cut at --max-new-tokens: no turn end is invented
    const batch = sftBatch(
      [
        { prompt, response: sftResponseIds(tok, [...content, ENDOFTEXT]) },
        { prompt: prompt.slice(3), response: [...content.slice(0, 2), END] },
      ],
      tok.padId,
    );
    const weighted = batch.targets.map((row, b) => row.filter((_, j) => batch.weights[b][j] === 1));
    expect(weighted[0]).toEqual([...content, END]);
    expect(weighted[1]).toEqual([...content.slice(0, 2), END]);
    // what the weighted targets follow is the assistant header: the loss starts right after <|assistant|>
    const first = batch.weights[0].indexOf(1);
    expect(batch.inputs[0][first]).toBe(ASSISTANT);
    expect(batch.weights[0].reduce((s, w) => s + w, 0)).toBe(content.length + 1);
    expect(tok.decode(weighted[0], { skipSpecial: false })).toBe('3 + 2 = 5\n#### 5<|end|>');
  });

  it("sampling stops on generation_config's eos list and the turn end; run.json gets every template", () => {
    expect(stopIds(tok)).toEqual([END, ENDOFTEXT]);
    const templates = promptTemplates(tok);
    expect(templates.format).toBe('chat');
    expect(templates.solver).toBe(CHAT_TEMPLATES.solver.gsm8k);
    expect(templates.verifier).toEqual({ tf: CHAT_TEMPLATES.tf, qe: CHAT_TEMPLATES.qe });
    expect(templates.chatTemplate).toBe(tok.chatTemplate);
  });

  it('--model DIR with tokenizer.json gets its own tokenizer in chat format; the shipped model keeps the plain format', async () => {
    const runTok = await loadRunTokenizer(dir, 'gsm8k');
    expect((runTok as ChatTokenizer).chat.turnEnd).toEqual([END]);
    const plain = await loadRunTokenizer('tiny-arith', 'arith');
    expect('chat' in plain).toBe(false);
    expect(stopIds(plain)).toEqual([]);
    expect(promptText(plain, 'q')).toBeUndefined();
    expect(promptIds(plain, '1+2=')).toEqual([plain.bosId, ...plain.encode('1+2='), plain.sepId]);
    expect(promptTemplates(plain).verifier).toBe(VERIFIER_TEMPLATES);
    const shipped = await loadTokenizer();
    expect(verdictIds(shipped).ratings).toEqual([1, 2, 3, 4, 5]);
    expect(sftResponseIds(shipped, [5, 6, shipped.eosId])).toEqual([5, 6, shipped.eosId]);
  });

  it('an HF tokenizer without a chat template is refused with the reason', () => {
    const bare = loadHFTokenizer(dir);
    bare.chatTemplate = undefined;
    expect(() => chatTokenizer(bare, 'gsm8k')).toThrow(/no chat_template; the loop prompts Hugging Face models with chat turns/);
  });
});
