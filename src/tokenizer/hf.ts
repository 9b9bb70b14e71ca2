// Hugging Face tokenizers (tokenizer.json + tokenizer_config.json) through @huggingface/tokenizers, behind the
// project's Tokenizer interface; chat templates from tokenizer_config.json rendered with @huggingface/jinja; stop ids
// from generation_config.json (an int or a list), else config.json, else the eos token.
import { Template } from '@huggingface/jinja';
import { Tokenizer as HFCore } from '@huggingface/tokenizers';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readJsonFile } from '../io.js';
import { tokenIdList } from '../model/config.js';
import type { Tokenizer } from './index.js';

export interface ChatMessage {
  role: string; // system, user, assistant
  content: string;
}

export interface HFTokenizer extends Tokenizer {
  kind: 'hf';
  addBos: boolean; // prompts start with bosId (tokenizer_config add_bos_token, else what the post-processor does)
  stopIds: number[]; // generation ends at any of these
  specialIds: Set<number>; // added tokens marked special: one id each from text, skipped by decode
  chatTemplate?: string;
  /** The chat as text, as HF's apply_chat_template(tokenize=False) renders it. */
  renderChat(messages: ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
  /** The rendered chat's ids (special tokens in the template become their ids; no BOS added beyond the template's). */
  encodeChat(messages: ChatMessage[], options?: { addGenerationPrompt?: boolean }): number[];
  decode(ids: number[], options?: { skipSpecial?: boolean }): string;
}

const readJson = (path: string) => readJsonFile(path) as Record<string, unknown>;

/** A special-token entry of tokenizer_config.json: a string, or an AddedToken object with `content`. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string')
    return (value as { content: string }).content;
  return undefined;
}

/** tokenizer_config's chat_template: a string, or a list of named templates (the 'default' one). */
function chatTemplateOf(config: Record<string, unknown>, path: string): string | undefined {
  const raw = config.chat_template;
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'string') return raw;
  const named = Array.isArray(raw) ? (raw as { name?: string; template?: string }[]).find((t) => t.name === 'default') : undefined;
  if (typeof named?.template !== 'string') throw new Error(`${path}: chat_template must be a string or a list with a 'default' template`);
  return named.template;
}

/** Stop ids: generation_config.json's eos_token_id, else config.json's, else the tokenizer's eos token. */
function stopIdsOf(dir: string, eosId: number | undefined): number[] {
  for (const file of ['generation_config.json', 'config.json']) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    const ids = tokenIdList(readJson(path).eos_token_id, 'eos_token_id', path);
    if (ids) return ids;
  }
  return eosId === undefined ? [] : [eosId];
}

function missing(dir: string, what: string): never {
  throw new Error(`${dir}: the tokenizer has no ${what} token (tokenizer_config.json names none)`);
}

/** Loads tokenizer.json (+ tokenizer_config.json, generation_config.json / config.json for stop ids) from a model directory. */
export function loadHFTokenizer(modelDir: string): HFTokenizer {
  const dir = resolve(modelDir);
  const tokenizerPath = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerPath))
    throw new Error(`${dir}: no tokenizer.json (a Hugging Face tokenizer directory needs tokenizer.json and tokenizer_config.json)`);
  const configPath = join(dir, 'tokenizer_config.json');
  const config = existsSync(configPath) ? readJson(configPath) : {};
  const tokenizerJson = readJson(tokenizerPath);
  let core: HFCore;
  try {
    core = new HFCore(tokenizerJson, config);
  } catch (error) {
    throw new Error(`${tokenizerPath}: not a tokenizer @huggingface/tokenizers can load (${(error as Error).message})`);
  }
  const idOf = (key: string): number | undefined => {
    const text = tokenText(config[key]);
    if (text === undefined) return undefined;
    const id = core.token_to_id(text);
    if (id === undefined) throw new Error(`${configPath}: ${key} '${text}' is not in ${tokenizerPath}`);
    return id;
  };
  const vocab = core.get_vocab(true);
  const vocabSize = [...vocab.values()].reduce((most, id) => Math.max(most, id), -1) + 1;
  const bos = idOf('bos_token');
  const eos = idOf('eos_token');
  const pad = idOf('pad_token') ?? eos;
  const specialIds = new Set([...core.get_added_tokens_decoder()].filter(([, token]) => token.special).map(([id]) => id));
  const probe = core.encode('a', { add_special_tokens: true }).ids;
  const addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : bos !== undefined && probe[0] === bos;
  const chatTemplate = chatTemplateOf(config, configPath);
  const template = chatTemplate === undefined ? undefined : new Template(chatTemplate);
  const specialTokens = Object.fromEntries(
    ['bos_token', 'eos_token', 'pad_token', 'unk_token'].map((key) => [key, tokenText(config[key]) ?? '']),
  );
  const checkId = (id: number, what: string) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`${what}: token id ${id} outside [0, ${vocabSize})`);
  };

  const renderChat = (messages: ChatMessage[], options: { addGenerationPrompt?: boolean } = {}) => {
    if (!template) throw new Error(`${configPath}: no chat_template (the model has no chat format; use plain prompts)`);
    return template.render({ messages, add_generation_prompt: options.addGenerationPrompt ?? false, ...specialTokens });
  };
  const tokenizer: HFTokenizer = {
    kind: 'hf',
    vocabSize,
    modelPath: tokenizerPath,
    addBos,
    stopIds: stopIdsOf(dir, eos),
    specialIds,
    chatTemplate,
    get bosId() {
      return bos ?? missing(dir, 'BOS');
    },
    get eosId() {
      return eos ?? missing(dir, 'EOS');
    },
    get padId() {
      return pad ?? missing(dir, 'pad or EOS');
    },
    get sepId(): number {
      throw new Error(`${dir}: Hugging Face tokenizers have no prompt/response separator; prompts use the chat template`);
    },
    encode: (text: string) => core.encode(text, { add_special_tokens: false }).ids,
    decode: (ids: number[], options: { skipSpecial?: boolean } = {}) => {
      for (const id of ids) checkId(id, 'decode');
      // no clean_up_tokenization_spaces (Llama 3's config asks for it): it turns " .75" into ".75" and loses the round trip
      return ids.length === 0
        ? ''
        : core.decode(ids, { skip_special_tokens: options.skipSpecial ?? true, clean_up_tokenization_spaces: false });
    },
    idToPiece: (id: number) => {
      checkId(id, 'idToPiece');
      const piece = core.id_to_token(id);
      if (piece === undefined) throw new Error(`idToPiece: token id ${id} is unused in ${tokenizerPath}`);
      return piece;
    },
    pieceToId: (piece: string) => {
      const id = core.token_to_id(piece);
      if (id === undefined) throw new Error(`pieceToId: "${piece}" is not a token of ${tokenizerPath}`);
      return id;
    },
    renderChat,
    encodeChat: (messages, options) => core.encode(renderChat(messages, options), { add_special_tokens: false }).ids,
  };
  return tokenizer;
}
