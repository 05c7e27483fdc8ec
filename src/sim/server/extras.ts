// The OpenAI-compatible endpoints beside generation that gateways pass through: moderations, image
// generation, text to speech, and rerank (Cohere's v2 shape, as vLLM serves it). Answers are
// deterministic for a request and the seed, in each API's wire shape; usage is counted with the
// server's tokenizer where the real API reports it (images, rerank).
import type { ServerResponse } from 'node:http';
import { hashString, Rng } from '../rng.js';
import { badRequest } from './errors.js';
import type { SimInstance } from './instance.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function texts(v: unknown, field: string): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.length > 0) {
    return v.map((x, i) => {
      if (typeof x === 'string') return x;
      if (isObj(x) && typeof x['text'] === 'string') return x['text'];
      throw badRequest(`${field}[${i}]: expected a string or {"text": …}`, field);
    });
  }
  throw badRequest(`${field}: Field required (a string or a non-empty list of strings)`, field);
}

const CATEGORIES = ['harassment', 'harassment/threatening', 'hate', 'hate/threatening', 'illicit', 'illicit/violent', 'self-harm', 'self-harm/instructions', 'self-harm/intent', 'sexual', 'sexual/minors', 'violence', 'violence/graphic'];

export function moderations(inst: SimInstance, body: unknown): Obj {
  if (!isObj(body)) throw badRequest('The request body must be a JSON object');
  const inputs = texts(body['input'], 'input');
  const results = inputs.map((t) => {
    const rng = new Rng(inst.seed ^ hashString(t), 11);
    const categories: Record<string, boolean> = {};
    const scores: Record<string, number> = {};
    for (const c of CATEGORIES) {
      categories[c] = false;
      scores[c] = Math.round(rng.next() * 1e-3 * 1e6) / 1e6;
    }
    return { flagged: false, categories, category_scores: scores };
  });
  return { id: `modr-${(hashString(inputs.join('\n')) >>> 0).toString(16)}`, model: typeof body['model'] === 'string' ? body['model'] : inst.model, results };
}

// A 1×1 PNG: the smallest valid image, so clients that decode what they get can.
const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

export function images(inst: SimInstance, body: unknown): Obj {
  if (!isObj(body)) throw badRequest('The request body must be a JSON object');
  const prompt = body['prompt'];
  if (typeof prompt !== 'string' || prompt === '') throw badRequest('prompt: Field required (a non-empty string)', 'prompt');
  const n = body['n'] ?? 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 10) throw badRequest('n: must be an integer from 1 to 10', 'n');
  const input = inst.tokenizer.count(prompt);
  // gpt-image-1 bills a fixed number of image tokens per image at a given size and quality.
  const output = 272 * n;
  return {
    created: Math.floor(Date.now() / 1000),
    data: Array.from({ length: n }, () => ({ b64_json: PNG_1PX })),
    usage: { input_tokens: input, output_tokens: output, total_tokens: input + output, input_tokens_details: { text_tokens: input, image_tokens: 0 } },
  };
}

/**
 * Speech: bytes proportional to the input's length, written in several chunks so a client (and a
 * gateway) sees a streamed body. The bytes are not real audio, only the right size and type.
 */
export function speech(inst: SimInstance, body: unknown, res: ServerResponse, headers: Record<string, string>): void {
  if (!isObj(body)) throw badRequest('The request body must be a JSON object');
  const input = body['input'];
  if (typeof input !== 'string' || input === '') throw badRequest('input: Field required (a non-empty string)', 'input');
  if (typeof body['voice'] !== 'string') throw badRequest('voice: Field required', 'voice');
  const format = typeof body['response_format'] === 'string' ? body['response_format'] : 'mp3';
  const type = format === 'wav' ? 'audio/wav' : format === 'pcm' ? 'audio/pcm' : format === 'opus' ? 'audio/opus' : format === 'flac' ? 'audio/flac' : format === 'aac' ? 'audio/aac' : 'audio/mpeg';
  const total = 4096 + input.length * 512;
  const rng = new Rng(inst.seed ^ hashString(input), 13);
  res.writeHead(200, { 'content-type': type, 'transfer-encoding': 'chunked', ...headers });
  const chunk = 16 * 1024;
  let sent = 0;
  const next = (): void => {
    if (res.destroyed) return;
    if (sent >= total) {
      res.end();
      return;
    }
    const n = Math.min(chunk, total - sent);
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) b.writeUInt32LE(rng.nextU32(), Math.min(i, n - 4));
    sent += n;
    if (res.write(b)) setImmediate(next);
    else res.once('drain', next);
  };
  next();
}

export function rerank(inst: SimInstance, body: unknown): Obj {
  if (!isObj(body)) throw badRequest('The request body must be a JSON object');
  const query = body['query'];
  if (typeof query !== 'string' || query === '') throw badRequest('query: Field required (a non-empty string)', 'query');
  const docs = texts(body['documents'], 'documents');
  const top = body['top_n'];
  if (top !== undefined && (typeof top !== 'number' || !Number.isInteger(top) || top < 1)) throw badRequest('top_n: must be a positive integer', 'top_n');
  const scored = docs.map((d, index) => ({ index, document: { text: d }, relevance_score: Math.round(new Rng(inst.seed ^ hashString(`${query}\u0000${d}`), 17).next() * 1e6) / 1e6 }));
  scored.sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index);
  let tokens = inst.tokenizer.count(query) * docs.length;
  for (const d of docs) tokens += inst.tokenizer.count(d);
  return {
    id: `rerank-${(hashString(query) >>> 0).toString(16)}`,
    model: typeof body['model'] === 'string' ? body['model'] : inst.model,
    results: scored.slice(0, typeof top === 'number' ? top : scored.length),
    usage: { total_tokens: tokens },
    meta: { api_version: { version: '2' }, billed_units: { search_units: 1 } },
  };
}
