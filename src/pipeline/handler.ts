// The request path, in order: id and timing → endpoint → body checks → model → route → proxy →
// one outcome record. Each stage reads the previous stage's output; side effects (metrics, logs,
// ledger) happen once, at the end, from the outcome.
import { nowMs } from '../core/clock.js';
import { GatewayError, toGatewayError } from '../core/errors.js';
import { acceptableRequestId, newRequestId } from '../core/ids.js';
import { stripCredentialQuery } from '../credentials/client.js';
import type { Logger } from '../core/log.js';
import type { Limits } from '../limits/index.js';
import type { LiveKey } from '../keys/registry.js';
import type { VirtualKeys } from '../keys/service.js';
import type { SpendTicket } from '../keys/spend.js';
import { ZERO_USAGE } from '../core/usage.js';
import type { McpGateway } from '../mcp/gateway.js';
import type { RequestOutcome } from '../core/outcome.js';
import type { Usage } from '../core/usage.js';
import { startTrace } from '../core/trace-context.js';
import { matchIngress, type IngressContext, type IngressMatch, type LocalAnswer } from '../ingress/index.js';
import { OPENAI_PATHS } from '../protocol/openai.js';
import type { HeaderView } from '../routing/router.js';
import { clientSubpath, COUNTED_BY_HEADER, countTokensLocally, forwardsCountTokens, messagesOperation } from './anthropic-ingress.js';
import { beginAuth } from './auth-stage.js';
import { admitKey, backendBudgetTicket, bindVirtualKey, withBackendBudgets } from './keys-stage.js';
import { readJsonBody } from './body.js';
import type { Generation } from './generation.js';
import { headerString, type Req, type RequestLimits, type Res } from './http.js';
import { admit, settle, type AdmittedRequest } from './limits-stage.js';
import { modelsAnswer, modelsForKey } from './models.js';
import { ProxyRequest } from './proxy.js';
import type { CountingPlan, ProxyResult } from './proxy-types.js';
import type { ClientRequest } from '../providers/types.js';
import { sendJson } from './respond.js';
import { finishLocal, finishProxied, reject, type RequestState } from './outcome-stage.js';

export interface OutcomeSink {
  requestStarted(generation: Generation | undefined): void;
  /** A request that asked for a streamed response is about to be proxied; its outcome has `stream: true`. */
  streamStarted(): void;
  /**
   * Once per request. For a proxied response with a ledger or a charge it comes just before the last
   * bytes go to the client: the limits' charge is done synchronously, the ledger line is written by
   * the time whenRecorded calls back (the bytes wait for it), the rest may follow. Without either,
   * right after the last bytes (afterPass).
   */
  requestFinished(outcome: RequestOutcome, generation: Generation | undefined): void;
  /** Drawn as a request is proxied (absent: every response's text is kept, and accounting draws the audit's sample at the end). */
  countingPlan?(): CountingPlan;
  /** requestFinished writes a ledger line, which must reach the kernel before the response's last bytes. */
  readonly writesLedger?: boolean;
  /**
   * Runs `done` once the ledger lines of the requests finished so far reached the kernel (they are
   * written together, once per pass over the ready I/O): a response's last bytes wait for it.
   * Absent: requestFinished wrote them before it returned.
   */
  whenRecorded?(done: () => void): void;
  /**
   * For a response whose outcome need not go first: runs `done` (its last bytes, then its outcome)
   * right after this pass over the ready I/O, with the other responses that end in it; at once when
   * no other request is in flight, as there is nothing to end it with. Absent: at once.
   */
  afterPass?(done: () => void): void;
}

const KEEP_TEXT: CountingPlan = { audited: undefined, keepText: true };

export interface GatewayRuntime {
  /** The generation new requests start on; replaced atomically on reload. */
  generation: Generation | undefined;
  draining: boolean;
  /** Traces are exported: each request gets a W3C trace context (continuing the client's). */
  tracing: boolean;
  readonly sink: OutcomeSink;
  readonly limits: Limits;
  readonly logger: Logger;
  /** Serves MCPRoutes (src/mcp); absent in runtimes that have none. */
  readonly mcp?: McpGateway | undefined;
  /** Virtual keys (`tg-…`) and their budgets; absent without a state store. */
  keys?: VirtualKeys | undefined;
}

export interface Connection {
  readonly remoteAddress: string | undefined;
  readonly scheme: 'http' | 'https';
  readonly limits: RequestLimits;
}

export function handleRequest(rt: GatewayRuntime, req: Req, res: Res, conn: Connection): void {
  const startMs = nowMs();
  const clientId = headerString(req.headers['x-request-id']);
  const url = originForm(req.url ?? '/');
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const ingress = matchIngress(path);
  const state: RequestState = {
    req,
    res,
    requestId: acceptableRequestId(clientId) ? clientId : newRequestId(),
    startMs,
    startedAt: Date.now(),
    path,
    ingress,
    operation: ingress?.operation ?? OPENAI_PATHS[path] ?? messagesOperation(path) ?? (path === '/v1/models' || path.startsWith('/v1/models/') ? 'models' : 'other'),
    http2: req.httpVersion === '2.0',
    generation: rt.generation,
    trace: rt.tracing ? startTrace(req.headers['traceparent']) : undefined,
    apiKey: undefined,
  };
  rt.sink.requestStarted(state.generation);
  const gen = state.generation;
  if (gen === undefined) {
    reject(rt, state, new GatewayError('config_unavailable', 'The gateway has no valid configuration loaded yet; see its logs.'));
    return;
  }
  const mcp = gen.config.mcp;
  if (mcp !== undefined && rt.mcp?.serve(mcp, req, res, path, state.requestId, conn.remoteAddress, (status) => finishLocal(rt, state, status, undefined)) === true) return;
  const method = req.method ?? 'GET';
  if (state.operation === 'models') {
    if (method !== 'GET') return reject(rt, state, methodNotAllowed(path, 'GET'));
    let vkey: LiveKey | undefined;
    try {
      vkey = virtualKey(rt, state);
    } catch (err) {
      return reject(rt, state, toGatewayError(err));
    }
    if (gen.config.security !== undefined && vkey === undefined) {
      // A Gateway-level SecurityPolicy guards the list too, and it shows only models the client may use.
      beginAuth(gen, req, { method, path, remoteAddress: conn.remoteAddress, requestId: state.requestId, logger: rt.logger })
        .then(async (gate) => modelsAnswer((await gate?.models(gen)) ?? gen.modelList, path))
        .then(
          (body) => {
            sendJson(res, 200, body, state.requestId, startMs);
            finishLocal(rt, state, 200, undefined);
          },
          (err: unknown) => reject(rt, state, toGatewayError(err)),
        );
      return;
    }
    let body: Buffer | string;
    try {
      body = modelsAnswer(vkey === undefined ? gen.modelList : modelsForKey(gen, vkey), path);
    } catch (err) {
      return reject(rt, state, toGatewayError(err));
    }
    sendJson(res, 200, body, state.requestId, startMs);
    finishLocal(rt, state, 200, undefined);
    return;
  }
  if (state.operation === 'other') {
    reject(
      rt,
      state,
      new GatewayError(
        'unknown_path',
        `No endpoint at ${method} ${path.slice(0, 200)}. The gateway serves the OpenAI API (/v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses, /v1/moderations, /v1/images/generations, /v1/audio/speech, /v1/audio/transcriptions, /v1/audio/translations, /v1/files, /v1/batches, GET /v1/models), Anthropic /v1/messages, Gemini /v1beta/models/{model}:generateContent and rerank /v2/rerank; see docs/providers.md.`,
      ),
    );
    return;
  }
  const query = q === -1 ? '' : url.slice(q);
  const allowed = ingress?.methods ?? ['POST'];
  if (!allowed.includes(method)) return reject(rt, state, methodNotAllowed(path, allowed.join(', ')));
  // Ingress hooks see the headers as they arrived: authentication rewrites the live ones.
  const arrived = ingress === undefined ? undefined : { ...req.headers };
  let vkey: LiveKey | undefined;
  try {
    vkey = virtualKey(rt, state);
  } catch (err) {
    return reject(rt, state, toGatewayError(err));
  }
  const ctx: IngressContext | undefined =
    arrived === undefined ? undefined : { headers: arrived, keyWorkload: vkey?.doc.workload, limits: rt.limits, method, query: new URLSearchParams(query) };
  const done = ingress?.serve !== undefined && ctx !== undefined ? serveIngress(rt, state, gen, ingress, ctx, conn, vkey) : proxyOpenAI(rt, state, gen, query, conn, ctx, vkey);
  done.catch((err: unknown) => reject(rt, state, toGatewayError(err)));
}

/** An ingress endpoint the gateway answers from its own state (after the virtual key or the Gateway-level auth check). */
async function serveIngress(rt: GatewayRuntime, s: RequestState, gen: Generation, ingress: IngressMatch, ctx: IngressContext, conn: Connection, vkey: LiveKey | undefined): Promise<void> {
  if (vkey === undefined) await beginAuth(gen, s.req, { method: ctx.method, path: s.path, remoteAddress: conn.remoteAddress, requestId: s.requestId, logger: rt.logger });
  const answer = await ingress.serve?.(ctx);
  if (answer !== undefined) sendLocal(rt, s, answer);
}

function sendLocal(rt: GatewayRuntime, s: RequestState, a: LocalAnswer): void {
  sendJson(s.res, a.status, JSON.stringify(a.body), s.requestId, s.startMs, a.headers);
  finishLocal(rt, s, a.status, undefined);
}

/** Verifies the request's virtual key (if it presents one) and records it for the outcome. */
function virtualKey(rt: GatewayRuntime, s: RequestState): LiveKey | undefined {
  const key = bindVirtualKey(rt.keys, s.req);
  if (key !== undefined) s.apiKey = { id: key.id, team: key.doc.team };
  return key;
}

async function proxyOpenAI(rt: GatewayRuntime, s: RequestState, gen: Generation, query: string, conn: Connection, ctx: IngressContext | undefined, vkey: LiveKey | undefined): Promise<void> {
  // Client authentication binds x-workload-app before anything reads it (routing, limits, accounting).
  const auth =
    vkey !== undefined || gen.config.security === undefined
      ? undefined
      : await beginAuth(gen, s.req, { method: s.req.method ?? 'POST', path: s.path, remoteAddress: conn.remoteAddress, requestId: s.requestId, logger: rt.logger });
  const { body, raw, upload } = await (s.ingress?.readBody ?? readJsonBody)(s.req, s.res, gen.config.listener.bodyLimitBytes, conn.limits);
  const model = s.ingress?.model ?? body['model'];
  if (model !== undefined && (typeof model !== 'string' || model.length === 0)) {
    throw new GatewayError('invalid_model', 'The "model" field must be a non-empty string.', { param: 'model' });
  }
  const stream = s.ingress?.stream ?? body['stream'];
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') {
    throw new GatewayError('invalid_body', 'The "stream" field must be true or false.', { param: 'stream' });
  }
  if (vkey !== undefined) rt.keys?.allowModel(vkey, model);
  if (ctx !== undefined) await s.ingress?.prepare?.(ctx, body);
  const match = () => gen.router.match(new RoutingHeaders(s.req.headers, model));
  const rule = auth === undefined ? match() : await auth.route(model, match);
  if (rule === undefined) {
    const workload = headerString(s.req.headers['x-workload-app']);
    if (model === undefined) {
      throw new GatewayError('missing_model', 'The request has no "model" field and no route matched without one; add "model" to the body.', {
        param: 'model',
      });
    }
    throw new GatewayError(
      'route_not_found',
      `No route matches model "${model.slice(0, 200)}"${workload === undefined ? '' : ` for workload "${workload.slice(0, 200)}"`}. Check the model name and the x-workload-app header against the gateway's routes (GET /v1/models lists the models).`,
    );
  }
  if (s.operation === 'count_tokens' && !forwardsCountTokens(rule)) {
    // No backend is asked, so no budget is spent: the count is the gateway's.
    const n = await countTokensLocally(body);
    sendJson(s.res, 200, JSON.stringify({ input_tokens: n }), s.requestId, s.startMs, { [COUNTED_BY_HEADER]: 'gateway', 'request-id': s.requestId });
    finishLocal(rt, s, 200, undefined);
    return;
  }
  const local = ctx === undefined ? undefined : await s.ingress?.answer?.(ctx, body, rule);
  if (local !== undefined) return sendLocal(rt, s, local);
  const requestBytes = upload?.declaredLength ?? raw.length;
  const keys = rt.keys;
  const keyTicket = keys === undefined || vkey === undefined ? undefined : await admitKey(keys, vkey, gen, rule, body, requestBytes, model);
  let admitted: AdmittedRequest;
  try {
    const a = admit(rt.limits, gen, rule, { headers: s.req.headers, method: s.req.method ?? 'POST', path: s.path, clientAddress: conn.remoteAddress }, s.requestId, body, requestBytes, model);
    admitted = a instanceof Promise ? await a : a;
  } catch (err) {
    // Refused by a rate limit after the key admitted it: nothing was spent.
    if (keyTicket !== undefined) keys?.spend.settle(keyTicket, model ?? '', ZERO_USAGE);
    throw err;
  }
  const quota = keys === undefined || vkey === undefined ? admitted.quota : withBackendBudgets(keys, vkey, admitted.quota, gen, rule, body, requestBytes, model);
  const client: ClientRequest = {
    operation: s.operation,
    method: s.req.method,
    subpath: s.ingress?.subpath ?? clientSubpath(s.operation, s.path),
    query: stripCredentialQuery(query, conn.limits.strip),
    body,
    raw,
    stream: stream === true,
    upload,
  };
  const proxy = new ProxyRequest({
    req: s.req,
    res: s.res,
    requestId: s.requestId,
    startMs: s.startMs,
    generation: gen,
    rule,
    client,
    originalModel: model,
    clientAddress: conn.remoteAddress,
    scheme: conn.scheme,
    traceparent: s.trace?.traceparent,
    limitHeaders: s.operation === 'count_tokens' ? { ...admitted.headers, [COUNTED_BY_HEADER]: 'backend' } : admitted.headers,
    quota,
    strip: conn.limits.strip,
    writeTimeoutMs: conn.limits.writeTimeoutMs,
    counting: rt.sink.countingPlan?.() ?? KEEP_TEXT,
    // A ledger line and a charge (rate limits, quotas, key budgets) go before the last bytes; with
    // neither, nothing the outcome does is promised by then, and the client is answered first.
    outcomeFirst: rt.sink.writesLedger === true || admitted.ticket !== undefined || quota !== undefined || keyTicket !== undefined,
    recorded: rt.sink,
    // The limits are charged when accounting has the request's usage, so both hold the same number.
    onDone: (r) => {
      if (ctx !== undefined) s.ingress?.finished?.(ctx, client, r.status).catch((err: unknown) => rt.logger.warn('ingress state not kept', { requestId: s.requestId, err }));
      finishProxied(rt, s, gen, rule.routeKey, rule.id, model, stream === true, requestBytes, body, r, settler(rt, admitted, keyTicket, model, r));
    },
  });
  if (stream === true) rt.sink.streamStarted();
  proxy.start();
}

/**
 * The charge for a finished request, made when accounting has its usage (after the gateway's own
 * count, seconds later for a long prompt). Built out here so it holds only what it names: a closure
 * made inside proxyOpenAI would keep that whole scope, the raw body among it, alive until then.
 */
function settler(rt: GatewayRuntime, admitted: AdmittedRequest, keyTicket: SpendTicket | undefined, model: string | undefined, r: ProxyResult): (usage: Usage) => void {
  let settled = false;
  return (usage) => {
    if (settled) return; // one charge per request, whoever calls
    settled = true;
    settle(rt.limits, admitted, model, usage, r);
    const sent = r.requestModel ?? model ?? '';
    if (keyTicket !== undefined) rt.keys?.spend.settle(keyTicket, sent, usage);
    const onBackend = backendBudgetTicket(r.quotaTicket);
    if (onBackend !== undefined) rt.keys?.spend.settle(onBackend, sent, usage);
  };
}

/**
 * The request target as a path: an absolute-form target (RFC 9112 §3.2.2, `http://user:pw@host/…`)
 * loses its scheme and authority here, before anything could echo or log a password in it.
 */
function originForm(url: string): string {
  if (url.charCodeAt(0) === 47) return url;
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url);
  if (m === null) return url;
  const rest = url.slice(m[0].length);
  return rest.length === 0 || rest.charCodeAt(0) !== 47 ? `/${rest}` : rest;
}

/** The headers routing sees: the request's, with `x-ai-eg-model` set from the body (never the client's). */
class RoutingHeaders implements HeaderView {
  constructor(
    private readonly headers: Req['headers'],
    private readonly model: string | undefined,
  ) {}

  get(name: string): string | undefined {
    if (name === 'x-ai-eg-model') return this.model;
    return headerString(this.headers[name]);
  }
}

function methodNotAllowed(path: string, allowed: string): GatewayError {
  return new GatewayError('method_not_allowed', `${path} only accepts ${allowed}.`, { headers: { allow: allowed } });
}
