// `tollgate sim --api vertex`: Vertex AI's publisher models,
//   /{v1|v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent |
//     :streamGenerateContent[?alt=sse] | :countTokens | :predict (text embeddings)
//   /{v1|v1beta1}/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict | :streamRawPredict
// with OAuth2 bearer tokens (401 UNAUTHENTICATED otherwise), plus Google's token endpoint at POST /token:
// the JWT-bearer grant of a service account (RS256 signature checked against the configured key).
import { createPrivateKey, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { respondClaude } from './anthropic.js';
import { ClaudeError, checkClaudeBody, claudeErrorBody, claudeErrorType, claudeInputCount } from './claude.js';
import { checkGeminiBody, GoogleError, injectedGoogleError, respondGemini, sendGoogleError } from './gemini-core.js';
import { BodyTooLarge, controls, header, parseJsonBody, readBody, sendJson } from './http.js';
import { splitUrl, startProviderServer, type ProviderSimOptions, type ProviderSimServer, type SimContext } from './server.js';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

const PATH = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/(google|anthropic)\/models\/([^/:]+):([A-Za-z]+)$/;
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

interface State {
  readonly tokens: Map<string, number>;
  readonly account: { email: string; key: KeyObject } | undefined;
}

function stateFor(opts: ProviderSimOptions): State {
  let account: State['account'];
  if (opts.serviceAccountJson !== undefined) {
    const sa = JSON.parse(opts.serviceAccountJson) as { client_email?: unknown; private_key?: unknown };
    if (typeof sa.client_email !== 'string' || typeof sa.private_key !== 'string') throw new Error('the service account JSON needs client_email and private_key');
    account = { email: sa.client_email, key: createPublicKey(createPrivateKey(sa.private_key)) };
  }
  return { tokens: new Map(), account };
}

const UNAUTHENTICATED =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

function authorized(ctx: SimContext, st: State, req: IncomingMessage): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header(req, 'authorization') ?? '');
  if (m === null) return false;
  const token = m[1] as string;
  if (ctx.opts.apiKey !== undefined && token === ctx.opts.apiKey) return true;
  const exp = st.tokens.get(token);
  if (exp !== undefined && exp > Date.now()) return true;
  // No credential configured at all: every bearer token is accepted (the shape still has to be right).
  return ctx.opts.apiKey === undefined && st.account === undefined;
}

async function handle(ctx: SimContext, st: State, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  const { path, query } = splitUrl(req);
  if (path === '/token' && req.method === 'POST') return tokenEndpoint(ctx, st, req, res);
  if (!authorized(ctx, st, req)) {
    req.resume();
    return sendGoogleError(res, new GoogleError(401, UNAUTHENTICATED));
  }
  const m = PATH.exec(path);
  if (m === null || req.method !== 'POST') {
    req.resume();
    return sendGoogleError(res, new GoogleError(404, `The requested URL ${path.slice(0, 200)} was not found on this server.`));
  }
  const [, , project, location, publisher, rawModel, method] = m as unknown as [string, string, string, string, string, string, string];
  const model = decodeURIComponent(rawModel);
  let body: unknown;
  try {
    body = parseJsonBody(await readBody(req));
  } catch (err) {
    if (err instanceof BodyTooLarge) return sendGoogleError(res, new GoogleError(400, 'Request payload size exceeds the limit.'));
    throw err;
  }
  ctx.seen.add(req, body);
  const c = controls(req);
  if ((ctx.opts.project !== undefined && project !== ctx.opts.project) || (ctx.opts.location !== undefined && location !== ctx.opts.location)) {
    return sendGoogleError(res, new GoogleError(403, `Permission denied on resource project ${project} (or it may not exist).`));
  }
  if (publisher === 'anthropic' && model === 'count-tokens' && method === 'rawPredict') {
    // Vertex AI's count endpoint for Claude: the model is named in the body.
    const m = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['model'] : undefined;
    if (typeof m !== 'string' || m === '') return sendJson(res, 400, claudeErrorBody('invalid_request_error', 'model: Field required', requestId));
    return sendJson(res, 200, { input_tokens: claudeInputCount(ctx.engine, body) });
  }
  if (publisher === 'anthropic') {
    if (method !== 'rawPredict' && method !== 'streamRawPredict') return sendGoogleError(res, new GoogleError(400, `Method ${method} is not supported for Anthropic models; use rawPredict or streamRawPredict.`));
    try {
      if (c.errorStatus !== undefined) throw new ClaudeError(c.errorStatus, claudeErrorType(c.errorStatus), c.errorStatus === 429 ? 'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model' : `Injected error ${c.errorStatus} (x-sim-error)`);
      const checked = checkClaudeBody(body, 'vertex');
      return await respondClaude(ctx, req, res, requestId, checked.body, model, method === 'streamRawPredict' && checked.stream);
    } catch (err) {
      if (err instanceof ClaudeError) return sendJson(res, err.status, claudeErrorBody(err.type, err.message, requestId));
      throw err;
    }
  }
  try {
    if (c.errorStatus !== undefined) throw injectedGoogleError(c.errorStatus);
    if (body === undefined) throw new GoogleError(400, 'Invalid JSON payload received.');
    switch (method) {
      case 'generateContent':
      case 'streamGenerateContent':
        return await respondGemini(ctx, res, checkGeminiBody(body), model, method === 'streamGenerateContent', query.get('alt') === 'sse', c);
      case 'countTokens':
        sendJson(res, 200, { totalTokens: ctx.engine.count(JSON.stringify(isRec(body) ? (body['contents'] ?? '') : '')), totalBillableCharacters: 0 });
        return;
      case 'predict': {
        const instances = isRec(body) && Array.isArray(body['instances']) ? (body['instances'] as unknown[]) : undefined;
        if (instances === undefined || instances.length === 0) throw new GoogleError(400, 'instances must not be empty');
        const params = isRec(body) && isRec(body['parameters']) ? body['parameters'] : {};
        const dims = typeof params['outputDimensionality'] === 'number' ? params['outputDimensionality'] : 768;
        const predictions = instances.map((inst, i) => {
          const text = isRec(inst) && typeof inst['content'] === 'string' ? inst['content'] : undefined;
          if (text === undefined) throw new GoogleError(400, `instances[${i}].content must be a string`);
          return { embeddings: { values: ctx.engine.embed(text, dims), statistics: { token_count: ctx.engine.count(text), truncated: false } } };
        });
        sendJson(res, 200, { predictions, metadata: { billableCharacterCount: 0 } });
        return;
      }
      default:
        throw new GoogleError(400, `Method ${method} is not supported.`);
    }
  } catch (err) {
    if (err instanceof GoogleError) return sendGoogleError(res, err);
    throw err;
  }
}

/** RFC 7523 JWT-bearer grant, as oauth2.googleapis.com/token answers it. */
async function tokenEndpoint(ctx: SimContext, st: State, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = new URLSearchParams((await readBody(req)).toString('utf8'));
  ctx.seen.add(req, { grant_type: form.get('grant_type') });
  const fail = (error: string, description: string): void => sendJson(res, 400, { error, error_description: description });
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return fail('unsupported_grant_type', 'Invalid grant_type.');
  const jwt = form.get('assertion') ?? '';
  const parts = jwt.split('.');
  if (parts.length !== 3) return fail('invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
  let head: Rec;
  let claims: Rec;
  try {
    head = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString('utf8')) as Rec;
    claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as Rec;
  } catch {
    return fail('invalid_grant', 'Invalid JWT.');
  }
  if (head['alg'] !== 'RS256') return fail('invalid_grant', 'Invalid JWT: unsupported algorithm.');
  if (st.account === undefined || claims['iss'] !== st.account.email) return fail('invalid_grant', 'Invalid JWT Signature.');
  const ok = verify('RSA-SHA256', Buffer.from(`${parts[0] ?? ''}.${parts[1] ?? ''}`), st.account.key, Buffer.from(parts[2] as string, 'base64url'));
  if (!ok) return fail('invalid_grant', 'Invalid JWT Signature.');
  const now = Math.floor(Date.now() / 1000);
  const exp = Number(claims['exp']);
  const iat = Number(claims['iat']);
  if (!Number.isFinite(exp) || !Number.isFinite(iat) || exp <= now || iat > now + 300 || exp - iat > 3600) {
    return fail('invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
  }
  if (claims['aud'] !== `${ctx.url}/token` && claims['aud'] !== GOOGLE_TOKEN_URL) return fail('invalid_grant', 'Invalid JWT: Failed audience check.');
  if (typeof claims['scope'] !== 'string' || !claims['scope'].split(' ').includes('https://www.googleapis.com/auth/cloud-platform')) {
    return fail('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
  }
  const ttl = ctx.opts.tokenTtlS ?? 3599;
  const token = `ya29.sim-${randomBytes(24).toString('base64url')}`;
  st.tokens.set(token, Date.now() + ttl * 1000);
  sendJson(res, 200, { access_token: token, expires_in: ttl, token_type: 'Bearer' });
}

export function startVertexSim(opts: ProviderSimOptions = {}): Promise<ProviderSimServer> {
  const st = stateFor(opts);
  return startProviderServer('vertex', (ctx, req, res, id) => handle(ctx, st, req, res, id), opts);
}
