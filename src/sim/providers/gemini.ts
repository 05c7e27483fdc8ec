// `tollgate sim --api gemini`: the Gemini API (generativelanguage.googleapis.com):
// POST /{v1beta|v1}/models/{model}:generateContent | :streamGenerateContent[?alt=sse] | :countTokens |
// :embedContent | :batchEmbedContents, GET /{version}/models. Authentication as the real API does it:
// `x-goog-api-key` (or `?key=`); no key → 403 PERMISSION_DENIED, a wrong key → 400 API_KEY_INVALID.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkGeminiBody, GoogleError, injectedGoogleError, respondGemini, sendGoogleError } from './gemini-core.js';
import { BodyTooLarge, controls, header, parseJsonBody, readBody, sendJson } from './http.js';
import { splitUrl, startProviderServer, type ProviderSimOptions, type ProviderSimServer, type SimContext } from './server.js';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

const MODEL_PATH = /^\/(v1beta|v1|v1alpha)\/models\/([^/:]+):([A-Za-z]+)$/;
const EMBED_DIMS = 768;

function sameSecret(a: string, b: string): boolean {
  let d = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) d |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return d === 0;
}

function authError(ctx: SimContext, req: IncomingMessage, query: URLSearchParams): GoogleError | undefined {
  const key = header(req, 'x-goog-api-key') ?? query.get('key') ?? undefined;
  if (key === undefined || key === '') {
    return new GoogleError(403, 'Method doesn\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.');
  }
  if (ctx.opts.apiKey !== undefined && !sameSecret(key, ctx.opts.apiKey)) {
    return new GoogleError(400, 'API key not valid. Please pass a valid API key.', [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
    ]);
  }
  return undefined;
}

async function handle(ctx: SimContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { path, query } = splitUrl(req);
  const denied = authError(ctx, req, query);
  if (denied !== undefined) {
    req.resume();
    return sendGoogleError(res, denied);
  }
  if (req.method === 'GET' && /^\/(v1beta|v1)\/models\/?$/.test(path)) {
    sendJson(res, 200, { models: [{ name: 'models/gemini-sim-flash', displayName: 'Gemini (simulated)', supportedGenerationMethods: ['generateContent', 'countTokens', 'embedContent'] }] });
    return;
  }
  const m = MODEL_PATH.exec(path);
  if (m === null || req.method !== 'POST') {
    req.resume();
    return sendGoogleError(res, new GoogleError(404, `Method not found: ${req.method ?? ''} ${path.slice(0, 200)}`));
  }
  const model = decodeURIComponent(m[2] as string);
  const method = m[3] as string;
  let body: unknown;
  try {
    body = parseJsonBody(await readBody(req));
  } catch (err) {
    if (err instanceof BodyTooLarge) return sendGoogleError(res, new GoogleError(400, 'Request payload size exceeds the limit.'));
    throw err;
  }
  ctx.seen.add(req, body);
  const c = controls(req);
  try {
    if (c.errorStatus !== undefined) throw injectedGoogleError(c.errorStatus);
    if (body === undefined) throw new GoogleError(400, 'Invalid JSON payload received.');
    switch (method) {
      case 'generateContent':
      case 'streamGenerateContent': {
        const checked = checkGeminiBody(body);
        return await respondGemini(ctx, res, checked, model, method === 'streamGenerateContent', query.get('alt') === 'sse', c);
      }
      case 'countTokens':
        sendJson(res, 200, { totalTokens: ctx.engine.count(JSON.stringify(isRec(body) ? (body['contents'] ?? '') : '')) });
        return;
      case 'embedContent':
        sendJson(res, 200, { embedding: { values: embedOne(ctx, body) } });
        return;
      case 'batchEmbedContents': {
        const reqs = isRec(body) && Array.isArray(body['requests']) ? (body['requests'] as unknown[]) : undefined;
        if (reqs === undefined || reqs.length === 0) throw new GoogleError(400, '* BatchEmbedContentsRequest.requests: requests is not specified');
        const embeddings = reqs.map((r, i) => {
          if (!isRec(r) || r['model'] !== `models/${model}`) {
            throw new GoogleError(400, `* BatchEmbedContentsRequest.requests[${i}].model: The model in the request (${isRec(r) ? String(r['model']) : ''}) does not match the model in the URL (models/${model}).`);
          }
          return { values: embedOne(ctx, r) };
        });
        sendJson(res, 200, { embeddings });
        return;
      }
      default:
        throw new GoogleError(404, `Method not found: ${method}`);
    }
  } catch (err) {
    if (err instanceof GoogleError) return sendGoogleError(res, err);
    throw err;
  }
}

function embedOne(ctx: SimContext, r: unknown): number[] {
  const content = isRec(r) ? r['content'] : undefined;
  const parts = isRec(content) && Array.isArray(content['parts']) ? (content['parts'] as unknown[]) : [];
  const text = parts.map((p) => (isRec(p) && typeof p['text'] === 'string' ? p['text'] : '')).join('');
  if (text === '') throw new GoogleError(400, '* EmbedContentRequest.content: contents must not be empty');
  const dims = isRec(r) && typeof r['outputDimensionality'] === 'number' ? r['outputDimensionality'] : EMBED_DIMS;
  return ctx.engine.embed(text, dims);
}

export function startGeminiSim(opts: ProviderSimOptions = {}): Promise<ProviderSimServer> {
  return startProviderServer('gemini', (ctx, req, res) => handle(ctx, req, res), opts);
}
