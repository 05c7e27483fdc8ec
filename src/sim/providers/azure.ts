// `tollgate sim --api azure`: Azure OpenAI, i.e. the OpenAI API under
// /openai/deployments/{deployment}/{chat/completions|completions|embeddings}?api-version=…, answered
// by the vLLM-faithful engine, with Azure's authentication: an `api-key` header, or an Entra ID bearer
// token from the client-credentials grant this simulator also serves at /{tenant}/oauth2/v2.0/token.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolveProfile } from '../profiles.js';
import { route } from '../server/http.js';
import { SimInstance } from '../server/instance.js';
import { controls, header, parseJsonBody, readBody, sendJson } from './http.js';
import { splitUrl, startProviderServer, type ProviderSimOptions, type ProviderSimServer, type SimContext } from './server.js';

const PATH = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/;
const TOKEN_PATH = /^\/([^/]+)\/oauth2\/v2\.0\/token$/;
/** Azure's v1 API surface serves the Responses API without a deployment in the path: `model` names it. */
const V1_RESPONSES = '/openai/v1/responses';

function azureError(res: ServerResponse, status: number, code: string, message: string, extra: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code, message } }, extra);
}

interface State {
  readonly inst: SimInstance;
  readonly tokens: Map<string, number>;
}

function sameSecret(a: string, b: string): boolean {
  let d = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) d |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return d === 0;
}

async function handle(ctx: SimContext, st: State, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  const { path, query } = splitUrl(req);
  const tm = TOKEN_PATH.exec(path);
  if (tm !== null && req.method === 'POST') return tokenEndpoint(ctx, st, req, res);
  const key = header(req, 'api-key');
  const bearer = /^Bearer\s+(\S+)$/i.exec(header(req, 'authorization') ?? '')?.[1];
  if (key === undefined && bearer === undefined) {
    req.resume();
    return azureError(res, 401, '401', 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.');
  }
  if (key !== undefined && ctx.opts.apiKey !== undefined && !sameSecret(key, ctx.opts.apiKey)) {
    req.resume();
    return azureError(res, 401, '401', 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.');
  }
  if (key === undefined && bearer !== undefined) {
    const exp = st.tokens.get(bearer);
    const ok = (exp !== undefined && exp > Date.now()) || (ctx.opts.apiKey !== undefined && sameSecret(bearer, ctx.opts.apiKey)) || (ctx.opts.apiKey === undefined && ctx.opts.azureClientId === undefined);
    if (!ok) {
      req.resume();
      return azureError(res, 401, '401', 'Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.');
    }
  }
  if (path === V1_RESPONSES && req.method === 'POST') return v1Responses(ctx, st, req, res, requestId);
  const m = PATH.exec(path);
  if (m === null || query.get('api-version') === null) {
    req.resume();
    return azureError(res, 404, '404', 'Resource not found');
  }
  const deployment = decodeURIComponent(m[1] as string);
  if (ctx.opts.deployments !== undefined && !ctx.opts.deployments.includes(deployment)) {
    req.resume();
    return azureError(
      res,
      404,
      'DeploymentNotFound',
      'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
    );
  }
  const body = parseJsonBody(await readBody(req));
  ctx.seen.add(req, body);
  const c = controls(req);
  if (c.errorStatus === 429) {
    return azureError(res, 429, '429', 'Requests to the ChatCompletions_Create Operation under Azure OpenAI API version have exceeded token rate limit of your current tier. Please retry after 1 second.', { 'retry-after': '1' });
  }
  if (c.errorStatus !== undefined) return azureError(res, c.errorStatus, String(c.errorStatus), `Injected error ${c.errorStatus} (x-sim-error)`);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return azureError(res, 400, 'BadRequest', "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)");
  // Azure ignores `model`: the deployment decides. The engine serves its one model.
  await route(st.inst, req, res, requestId, { path: `/v1/${m[2] as string}`, body: { ...(body as Record<string, unknown>), model: st.inst.model } });
}

async function v1Responses(ctx: SimContext, st: State, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  const body = parseJsonBody(await readBody(req));
  ctx.seen.add(req, body);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return azureError(res, 400, 'BadRequest', "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)");
  const deployment = (body as Record<string, unknown>)['model'];
  if (typeof deployment !== 'string' || (ctx.opts.deployments !== undefined && !ctx.opts.deployments.includes(deployment))) {
    return azureError(res, 404, 'DeploymentNotFound', 'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.');
  }
  await route(st.inst, req, res, requestId, { path: '/v1/responses', body });
}

async function tokenEndpoint(ctx: SimContext, st: State, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = new URLSearchParams((await readBody(req)).toString('utf8'));
  ctx.seen.add(req, { grant_type: form.get('grant_type'), client_id: form.get('client_id') });
  const fail = (status: number, error: string, description: string): void => sendJson(res, status, { error, error_description: description, error_codes: [7000215] });
  if (form.get('grant_type') !== 'client_credentials') return fail(400, 'unsupported_grant_type', 'AADSTS70003: The app requested an unsupported grant type.');
  const id = form.get('client_id') ?? '';
  const secret = form.get('client_secret') ?? '';
  if (ctx.opts.azureClientId === undefined || id !== ctx.opts.azureClientId) return fail(400, 'unauthorized_client', `AADSTS700016: Application with identifier '${id.slice(0, 64)}' was not found in the directory.`);
  if (ctx.opts.azureClientSecret === undefined || !sameSecret(secret, ctx.opts.azureClientSecret)) return fail(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');
  if (form.get('scope') !== 'https://cognitiveservices.azure.com/.default') return fail(400, 'invalid_scope', 'AADSTS70011: The provided value for the input parameter \'scope\' is not valid.');
  const ttl = ctx.opts.tokenTtlS ?? 3599;
  const token = `eyJ0eXAiOiJKV1QiLCJzaW0iOnRydWV9.${randomBytes(24).toString('base64url')}`;
  st.tokens.set(token, Date.now() + ttl * 1000);
  sendJson(res, 200, { token_type: 'Bearer', expires_in: ttl, ext_expires_in: ttl, access_token: token });
}

export async function startAzureSim(opts: ProviderSimOptions = {}): Promise<ProviderSimServer> {
  const inst = await SimInstance.create({ profile: await resolveProfile('fast'), model: 'gpt-4o-2024-08-06', seed: opts.seed ?? 0 });
  const st: State = { inst, tokens: new Map() };
  return startProviderServer('azure', (ctx, req, res, id) => handle(ctx, st, req, res, id), opts, () => inst.close());
}
