// OpenAI's Files and Batch APIs, in memory per server: upload, list, retrieve, content and delete of
// files; create, retrieve, list and cancel of batches. A batch runs at once when it is created (each
// line of its input file answered as the chat endpoint would, with usage from the tokenizer) and is
// reported `validating` by its create answer and `completed` from then on, unless it was cancelled
// first; its output file holds one answer line per request, in OpenAI's batch output format.
import { createHash } from 'node:crypto';
import { hashString, Rng } from '../rng.js';
import { generateText } from '../text.js';
import { badRequest, SimHttpError } from './errors.js';
import type { SimInstance } from './instance.js';
import { readForm, type Form } from './form.js';
import type { IncomingMessage } from 'node:http';

type Obj = Record<string, unknown>;

const PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'];
const ENDPOINTS = ['/v1/chat/completions', '/v1/embeddings', '/v1/completions', '/v1/responses'];

interface StoredFile {
  readonly object: Obj;
  readonly content: Buffer;
}

interface State {
  readonly files: Map<string, StoredFile>;
  readonly batches: Map<string, Obj>;
  seq: number;
}

const states = new WeakMap<SimInstance, State>();

function state(inst: SimInstance): State {
  let s = states.get(inst);
  if (s === undefined) {
    s = { files: new Map(), batches: new Map(), seq: 0 };
    states.set(inst, s);
  }
  return s;
}

function newId(inst: SimInstance, prefix: string, seed: string): string {
  const s = state(inst);
  return `${prefix}-${createHash('sha256').update(`${inst.seed}:${++s.seq}:${seed}`).digest('hex').slice(0, 24)}`;
}

const now = (): number => Math.floor(Date.now() / 1000);

export type SimAnswer = { readonly status: number; readonly json: unknown } | { readonly status: number; readonly bytes: Buffer; readonly type: string };

function notFound(kind: string, id: string): SimHttpError {
  return new SimHttpError(404, 'NotFoundError', `No such ${kind}: '${id}'.`, 'id');
}

/** Routes /v1/files… and /v1/batches…; undefined for any other path. */
export function filesRoute(inst: SimInstance, method: string, path: string, query: URLSearchParams, req: IncomingMessage, body: () => Promise<Buffer>): Promise<SimAnswer> | undefined {
  const m = /^\/v1\/(files|batches)(?:\/([^/]+)(\/content|\/cancel)?)?$/.exec(path);
  if (m === null) return undefined;
  const [, kind, id, tail] = m;
  return (async (): Promise<SimAnswer> => {
    const s = state(inst);
    if (kind === 'files') {
      if (id === undefined) {
        if (method === 'POST') return { status: 200, json: upload(inst, readForm(req, await body())) };
        if (method === 'GET') return { status: 200, json: page([...s.files.values()].map((f) => f.object).filter((o) => query.get('purpose') === null || o['purpose'] === query.get('purpose')), query, 10_000) };
      } else {
        const f = s.files.get(id);
        if (f === undefined) throw notFound('file', id);
        if (tail === '/content' && method === 'GET') return { status: 200, bytes: f.content, type: 'application/octet-stream' };
        if (tail === undefined && method === 'GET') return { status: 200, json: f.object };
        if (tail === undefined && method === 'DELETE') {
          s.files.delete(id);
          return { status: 200, json: { id, object: 'file', deleted: true } };
        }
      }
    } else if (id === undefined) {
      if (method === 'POST') return { status: 200, json: createBatch(inst, parseBody(await body())) };
      if (method === 'GET') return { status: 200, json: page([...s.batches.values()].map(settled), query, 100) };
    } else {
      const b = s.batches.get(id);
      if (b === undefined) throw notFound('batch', id);
      if (tail === '/cancel' && method === 'POST') {
        if (b['status'] !== 'validating') throw badRequest(`Cannot cancel a batch with status '${String(b['status'])}'.`);
        b['status'] = 'cancelling';
        b['cancelling_at'] = now();
        return { status: 200, json: { ...b } };
      }
      if (tail === undefined && method === 'GET') return { status: 200, json: settled(b) };
    }
    throw new SimHttpError(405, 'MethodNotAllowed', `${method} is not allowed on ${path}.`);
  })();
}

function parseBody(buf: Buffer): Obj {
  try {
    const v = JSON.parse(buf.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Obj;
  } catch {
    // answered below
  }
  throw badRequest('The request body must be a JSON object.');
}

function upload(inst: SimInstance, form: Form): Obj {
  const purpose = form.fields.get('purpose')?.[0];
  if (purpose === undefined || !PURPOSES.includes(purpose)) throw badRequest(`purpose: must be one of ${PURPOSES.join(', ')}.`, 'purpose');
  const filename = form.filename ?? 'upload';
  if (purpose === 'batch') batchLines(form.file);
  const id = newId(inst, 'file', `${filename}:${form.file.length}`);
  const object: Obj = { id, object: 'file', bytes: form.file.length, created_at: now(), filename, purpose, status: 'processed', status_details: null, expires_at: null };
  state(inst).files.set(id, { object, content: form.file });
  return object;
}

/** The lines of a batch input file, each checked as OpenAI checks them. */
function batchLines(content: Buffer): Obj[] {
  const lines = content.toString('utf8').split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw badRequest('The batch input file is empty: it needs one JSON request per line.', 'file');
  return lines.map((l, i) => {
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch {
      throw badRequest(`Line ${i + 1} of the batch input file is not valid JSON.`, 'file');
    }
    if (typeof v !== 'object' || v === null || typeof (v as Obj)['custom_id'] !== 'string' || (v as Obj)['method'] !== 'POST' || typeof (v as Obj)['url'] !== 'string') {
      throw badRequest(`Line ${i + 1} of the batch input file needs "custom_id", "method": "POST", "url" and "body".`, 'file');
    }
    return v as Obj;
  });
}

function createBatch(inst: SimInstance, body: Obj): Obj {
  const s = state(inst);
  const input = body['input_file_id'];
  if (typeof input !== 'string') throw badRequest('input_file_id: Field required.', 'input_file_id');
  const f = s.files.get(input);
  if (f === undefined) throw notFound('file', input);
  if (f.object['purpose'] !== 'batch') throw badRequest(`File ${input} was uploaded with purpose '${String(f.object['purpose'])}'; a batch needs purpose 'batch'.`, 'input_file_id');
  const endpoint = body['endpoint'];
  if (typeof endpoint !== 'string' || !ENDPOINTS.includes(endpoint)) throw badRequest(`endpoint: must be one of ${ENDPOINTS.join(', ')}.`, 'endpoint');
  if (body['completion_window'] !== '24h') throw badRequest("completion_window: must be '24h'.", 'completion_window');
  const lines = batchLines(f.content);
  const created = now();
  const id = newId(inst, 'batch', input);
  let input_tokens = 0;
  let output_tokens = 0;
  const out = lines.map((l, i) => {
    const answer = chatAnswer(inst, l, `${id}:${i}`);
    const u = answer['usage'] as { prompt_tokens: number; completion_tokens: number };
    input_tokens += u.prompt_tokens;
    output_tokens += u.completion_tokens;
    return JSON.stringify({ id: `batch_req_${i}_${id.slice(6)}`, custom_id: l['custom_id'], response: { status_code: 200, request_id: `req_${id.slice(6)}_${i}`, body: answer }, error: null });
  });
  const outId = newId(inst, 'file', `${id}:output`);
  const content = Buffer.from(`${out.join('\n')}\n`);
  s.files.set(outId, { object: { id: outId, object: 'file', bytes: content.length, created_at: created, filename: `${id}_output.jsonl`, purpose: 'batch_output', status: 'processed', status_details: null, expires_at: null }, content });
  const batch: Obj = {
    id,
    object: 'batch',
    endpoint,
    errors: null,
    input_file_id: input,
    completion_window: '24h',
    status: 'validating',
    output_file_id: null,
    error_file_id: null,
    created_at: created,
    in_progress_at: null,
    expires_at: created + 24 * 3600,
    finalizing_at: null,
    completed_at: null,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    request_counts: { total: lines.length, completed: 0, failed: 0 },
    metadata: body['metadata'] ?? null,
  };
  s.batches.set(id, batch);
  pendingOutput.set(batch, { outId, input_tokens, output_tokens, total: lines.length });
  return { ...batch };
}

const pendingOutput = new WeakMap<Obj, { outId: string; input_tokens: number; output_tokens: number; total: number }>();

/** A batch as it stands after its create answer: completed, or cancelled if a cancel came first. */
function settled(b: Obj): Obj {
  const p = pendingOutput.get(b);
  if (p === undefined) return { ...b };
  const t = b['created_at'] as number;
  if (b['status'] === 'cancelling') {
    Object.assign(b, { status: 'cancelled', cancelled_at: now() });
  } else if (b['status'] === 'validating') {
    Object.assign(b, {
      status: 'completed',
      in_progress_at: t,
      finalizing_at: t,
      completed_at: now(),
      output_file_id: p.outId,
      request_counts: { total: p.total, completed: p.total, failed: 0 },
      usage: {
        input_tokens: p.input_tokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: p.output_tokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: p.input_tokens + p.output_tokens,
      },
    });
  }
  pendingOutput.delete(b);
  return { ...b };
}

/** A chat completion for one batch line, with usage counted by the server's tokenizer. */
function chatAnswer(inst: SimInstance, line: Obj, seed: string): Obj {
  const body = (typeof line['body'] === 'object' && line['body'] !== null ? line['body'] : {}) as Obj;
  const prompt = JSON.stringify(body['messages'] ?? body['input'] ?? '');
  const rng = new Rng(inst.seed ^ hashString(`${seed}:${prompt}`), 5);
  const max = typeof body['max_tokens'] === 'number' ? body['max_tokens'] : typeof body['max_completion_tokens'] === 'number' ? body['max_completion_tokens'] : 16;
  const text = generateText(inst.vocab, rng, Math.max(1, Math.min(max, 64)));
  const promptTokens = inst.tokenizer.count(prompt);
  const completion = inst.tokenizer.count(text);
  return {
    id: `chatcmpl-${seed.replace(/[^A-Za-z0-9]/g, '').slice(-20)}`,
    object: 'chat.completion',
    created: now(),
    model: typeof body['model'] === 'string' ? body['model'] : inst.model,
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: max <= 64 ? 'length' : 'stop', logprobs: null }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion },
  };
}

/** A cursor page (newest first, as OpenAI lists), after `after`, `limit` items. */
function page(items: Obj[], query: URLSearchParams, maxLimit: number): Obj {
  const order = query.get('order') ?? 'desc';
  const sorted = order === 'asc' ? items : [...items].reverse();
  const limit = Math.min(maxLimit, Math.max(1, Number(query.get('limit') ?? 20) || 20));
  const after = query.get('after');
  const start = after === null ? 0 : sorted.findIndex((o) => o['id'] === after) + 1;
  const data = sorted.slice(start, start + limit);
  return { object: 'list', data, first_id: data[0]?.['id'] ?? null, last_id: data.at(-1)?.['id'] ?? null, has_more: start + limit < sorted.length };
}
