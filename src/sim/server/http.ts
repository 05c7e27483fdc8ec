// The simulated server's HTTP front: node:http, a fixed route table, the API-key check vLLM's
// `--api-key` does for /v1/*, the request log, and vLLM's auxiliary endpoints.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { acceptableRequestId, newRequestId } from '../../core/ids.js';
import { nowMs } from '../../core/clock.js';
import { renderDcgmMetrics, renderVllmMetrics } from '../metrics.js';
import { handleEmbeddings } from './embeddings.js';
import { images, moderations, rerank, speech } from './extras.js';
import { filesRoute } from './files.js';
import { readForm } from './form.js';
import { responses } from './responses.js';
import { transcribe } from './transcribe.js';
import { badRequest, errorJson, SimHttpError } from './errors.js';
import { FaultSpecError, type FaultPlan } from './faults.js';
import { GenerationResponse } from './generate.js';
import type { SimInstance } from './instance.js';
import { credentialState, safeHeaders } from './request-log.js';
import { handleDetokenize, handleTokenize } from './tokenize.js';
import { parseChatRequest, parseCompletionRequest, parseEmbeddingRequest } from './validate.js';

const MAX_BODY_BYTES = 64 * 1024 * 1024;
export const SIM_VERSION = '0.11.0+tollgate-sim';

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, err: SimHttpError, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, errorJson(err), { ...headers, ...err.headers });
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new SimHttpError(413, 'PayloadTooLarge', `The request body is over ${MAX_BODY_BYTES} bytes.`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const buf = await readBody(req);
  if (buf.length === 0) throw badRequest('The request body is empty: send a JSON object.');
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch (err) {
    throw badRequest(`The request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function outputTokensHeader(req: IncomingMessage): number | undefined {
  const v = headerValue(req, 'x-sim-output-tokens');
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  if (!/^\s*\d+\s*$/.test(v) || n < 1 || n > 10_000_000) {
    throw badRequest(`x-sim-output-tokens must be a whole number of tokens from 1 to 10000000, got ${JSON.stringify(v)}`, 'x-sim-output-tokens');
  }
  return n;
}

function faultHeader(inst: SimInstance, req: IncomingMessage): FaultPlan {
  try {
    return inst.faultsFor(headerValue(req, 'x-sim-fault'));
  } catch (err) {
    if (err instanceof FaultSpecError) throw badRequest(`x-sim-fault: ${err.message}`, 'x-sim-fault');
    throw err;
  }
}

function checkModel(inst: SimInstance, model: string | undefined): void {
  if (model !== undefined && model !== inst.model) {
    throw new SimHttpError(404, 'NotFoundError', `The model \`${model}\` does not exist.`, 'model');
  }
}

function unauthorized(inst: SimInstance, req: IncomingMessage): SimHttpError | undefined {
  if (inst.apiKey === undefined) return undefined;
  switch (credentialState(req.headers, inst.apiKey)) {
    case 'valid':
      return undefined;
    case 'missing':
      return new SimHttpError(
        401,
        'AuthenticationError',
        'Missing API key. This server requires the API key it was started with, sent as `Authorization: Bearer <key>` (or an `api-key` or `x-api-key` header).',
      );
    case 'invalid':
      return new SimHttpError(401, 'AuthenticationError', 'Incorrect API key provided. This server requires the API key it was started with; the key presented is not it.');
  }
}

/**
 * A pre-read request for the engine, from a front that already parsed it (the Azure OpenAI simulator
 * serves its deployments through this engine).
 */
export interface RoutedRequest {
  readonly path: string;
  readonly body: unknown;
}

export async function route(inst: SimInstance, req: IncomingMessage, res: ServerResponse, requestId: string, pre?: RoutedRequest): Promise<void> {
  const arrivalMs = nowMs();
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = pre?.path ?? (q < 0 ? url : url.slice(0, q));
  const method = req.method ?? 'GET';
  const extraHeaders: Record<string, string> = { 'x-request-id': requestId };

  if (path.startsWith('/_sim/')) return simAdmin(inst, path, method, res);

  const isApi = path.startsWith('/v1/') || path.startsWith('/v2/');
  if (isApi || path === '/tokenize' || path === '/detokenize') {
    inst.log.add({
      id: requestId,
      path,
      receivedAt: new Date().toISOString(),
      model: null,
      credential: credentialState(req.headers, inst.apiKey),
      headers: safeHeaders(req.headers, inst.apiKey),
    });
  }
  if (isApi) {
    const denied = unauthorized(inst, req);
    if (denied !== undefined) {
      req.resume();
      return sendError(res, denied, { ...extraHeaders, 'www-authenticate': 'Bearer' });
    }
  }

  const post = async (): Promise<unknown> => {
    const body = pre === undefined ? await readJson(req) : pre.body;
    const m = typeof body === 'object' && body !== null ? (body as { model?: unknown }).model : undefined;
    inst.log.setModel(requestId, typeof m === 'string' ? m : null);
    return body;
  };
  const methodGuard = (want: string): boolean => {
    if (method === want) return true;
    req.resume();
    sendJson(res, 405, { detail: 'Method Not Allowed' }, { allow: want, ...extraHeaders });
    return false;
  };

  const files = isApi ? filesRoute(inst, method, path, new URLSearchParams(q < 0 ? '' : url.slice(q + 1)), req, () => readBody(req)) : undefined;
  if (files !== undefined) {
    const a = await files;
    if ('json' in a) sendJson(res, a.status, a.json, extraHeaders);
    else {
      res.writeHead(a.status, { ...extraHeaders, 'content-type': a.type, 'content-length': String(a.bytes.length) });
      res.end(a.bytes);
    }
    return;
  }
  switch (path) {
    case '/health':
      if (methodGuard('GET')) {
        res.writeHead(200, { 'content-length': '0' });
        res.end();
      }
      return;
    case '/version':
      if (methodGuard('GET')) sendJson(res, 200, { version: SIM_VERSION });
      return;
    case '/metrics':
      if (methodGuard('GET')) {
        const text = renderVllmMetrics(inst);
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
        res.end(text);
      }
      return;
    case '/v1/models':
      if (methodGuard('GET')) {
        sendJson(
          res,
          200,
          {
            object: 'list',
            data: [
              {
                id: inst.model,
                object: 'model',
                created: Math.floor(inst.startedAtMs / 1000),
                owned_by: inst.profile.ownedBy,
                root: inst.model,
                parent: null,
                max_model_len: inst.profile.maxModelLen,
              },
            ],
          },
          extraHeaders,
        );
      }
      return;
    case '/v1/chat/completions':
    case '/v1/completions': {
      if (!methodGuard('POST')) return;
      const body = await post();
      const params = path === '/v1/chat/completions' ? parseChatRequest(body) : parseCompletionRequest(body);
      checkModel(inst, params.model);
      const ctx = { requestId, arrivalMs, outputTokens: outputTokensHeader(req), fault: faultHeader(inst, req), extraHeaders };
      new GenerationResponse(inst, req, res, params, ctx).start();
      return;
    }
    case '/v1/embeddings': {
      if (!methodGuard('POST')) return;
      const params = parseEmbeddingRequest(await post());
      checkModel(inst, params.model);
      const fault = faultHeader(inst, req);
      return handleEmbeddings(inst, req, res, params, fault, extraHeaders);
    }
    case '/v1/moderations':
      if (methodGuard('POST')) sendJson(res, 200, moderations(inst, await post()), extraHeaders);
      return;
    case '/v1/images/generations':
      if (methodGuard('POST')) sendJson(res, 200, images(inst, await post()), extraHeaders);
      return;
    case '/v1/audio/speech':
      if (methodGuard('POST')) speech(inst, await post(), res, extraHeaders);
      return;
    case '/v1/responses':
      if (methodGuard('POST')) responses(inst, await post(), res, extraHeaders);
      return;
    case '/v1/audio/transcriptions':
    case '/v1/audio/translations': {
      if (!methodGuard('POST')) return;
      const form = readForm(req, await readBody(req));
      const m = form.fields.get('model')?.[0];
      inst.log.setModel(requestId, m ?? null);
      transcribe(inst, path === '/v1/audio/transcriptions' ? 'transcribe' : 'translate', form, res, extraHeaders);
      return;
    }
    case '/v1/rerank':
    case '/v2/rerank':
    case '/rerank':
      if (methodGuard('POST')) sendJson(res, 200, rerank(inst, await post()), extraHeaders);
      return;
    case '/tokenize':
      if (methodGuard('POST')) sendJson(res, 200, handleTokenize(inst, await post()), extraHeaders);
      return;
    case '/detokenize':
      if (methodGuard('POST')) sendJson(res, 200, handleDetokenize(inst, await post()), extraHeaders);
      return;
    case '/reset_prefix_cache':
      if (methodGuard('POST')) {
        inst.engine.kv.resetPrefixCache();
        res.writeHead(200, { 'content-length': '0' });
        res.end();
      }
      return;
    default:
      req.resume();
      sendJson(res, 404, { detail: 'Not Found' }, extraHeaders);
  }
}

function simAdmin(inst: SimInstance, path: string, method: string, res: ServerResponse): void {
  if (path.startsWith('/_sim/requests/') && method === 'GET') {
    let id: string;
    try {
      id = decodeURIComponent(path.slice('/_sim/requests/'.length));
    } catch {
      sendJson(res, 400, { error: { message: 'The request id in the path is not valid percent-encoding.', type: 'BadRequestError', param: null, code: 400 } });
      return;
    }
    const entry = inst.log.get(id);
    if (entry === undefined) sendJson(res, 404, { error: { message: `No request with x-request-id "${id}" was seen (the log keeps the last ${10_000}).`, type: 'NotFoundError', param: null, code: 404 } });
    else sendJson(res, 200, entry);
    return;
  }
  if (path === '/_sim/stats' && method === 'GET') {
    sendJson(res, 200, simStats(inst));
    return;
  }
  if (path === '/_sim/stats/reset' && method === 'POST') {
    inst.loop.jitter.reset();
    sendJson(res, 200, { ok: true });
    return;
  }
  if (path === '/_sim/dcgm' && method === 'GET') {
    const text = renderDcgmMetrics(inst);
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
    return;
  }
  if (path === '/_sim/profile' && method === 'GET') {
    sendJson(res, 200, inst.profile);
    return;
  }
  sendJson(res, 404, { detail: 'Not Found' });
}

export function simStats(inst: SimInstance): Record<string, unknown> {
  const e = inst.engine;
  const st = e.stats;
  const cpu = process.cpuUsage();
  return {
    model: inst.model,
    profile: inst.profile.name,
    running: e.running.length,
    waiting: e.numWaiting,
    inFlight: inst.inFlight,
    kvBlocks: e.config.numBlocks,
    kvFreeBlocks: e.kv.numFree,
    kvUsage: e.kv.usage(),
    kvCachedBlocks: e.kv.numCached,
    steps: st.steps,
    busyMs: st.busyMs,
    promptTokens: st.promptTokens,
    generationTokens: st.generationTokens,
    preemptions: st.preemptions,
    prefixQueries: st.prefixQueries,
    prefixHits: st.prefixHits,
    rejected: st.rejected,
    stepJitterMs: inst.loop.jitter.summary(),
    process: { cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, rssBytes: process.memoryUsage().rss, uptimeMs: Date.now() - inst.startedAtMs },
  };
}

export function createSimHttpServer(inst: SimInstance): Server {
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
    const given = headerValue(req, 'x-request-id');
    const requestId = acceptableRequestId(given) ? given : newRequestId();
    route(inst, req, res, requestId).catch((err: unknown) => {
      const e =
        err instanceof SimHttpError
          ? err
          : new SimHttpError(500, 'InternalServerError', `The simulator hit an unexpected error: ${err instanceof Error ? err.message : String(err)}`);
      req.resume();
      sendError(res, e, { 'x-request-id': requestId });
    });
  });
  return server;
}
