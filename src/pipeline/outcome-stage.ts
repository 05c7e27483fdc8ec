// The end of every request: the one outcome record (metrics, logs, ledger read it), a refusal the
// gateway answers itself, and the log line each 5xx of its own gets under the request id.
import { nowMs } from '../core/clock.js';
import type { GatewayError } from '../core/errors.js';
import type { Operation, RequestOutcome } from '../core/outcome.js';
import type { TraceContext } from '../core/trace-context.js';
import type { Usage } from '../core/usage.js';
import { errorShapeOf } from '../ingress/errors.js';
import type { IngressMatch } from '../ingress/index.js';
import { providerName } from '../providers/index.js';
import { discardBody, expectsContinue } from './body.js';
import type { Generation } from './generation.js';
import type { GatewayRuntime } from './handler.js';
import { headerString, type Req, type Res } from './http.js';
import type { ProxyResult } from './proxy-types.js';
import { sendError } from './respond.js';

export interface RequestState {
  readonly req: Req;
  readonly res: Res;
  readonly requestId: string;
  readonly startMs: number;
  readonly startedAt: number;
  readonly path: string;
  readonly operation: Operation;
  /** The non-OpenAI API the path belongs to (src/ingress), if any. */
  readonly ingress: IngressMatch | undefined;
  readonly http2: boolean;
  readonly generation: Generation | undefined;
  readonly trace: TraceContext | undefined;
  /** Set once the request's virtual key is verified. */
  apiKey: { readonly id: string; readonly team: string | undefined } | undefined;
}

export function reject(rt: GatewayRuntime, s: RequestState, err: GatewayError): void {
  let extra: Record<string, string> | undefined;
  if (err.code === 'body_too_large' && !s.http2 && !expectsContinue(s.req)) {
    // The client is sending the rest of the body: read it away (bounded), then the connection goes on.
    discardBody(s.req);
  } else if (err.code === 'body_too_large' || err.code === 'bad_request' || (expectsContinue(s.req) && s.req.complete !== true)) {
    // No body will follow (an Expect the gateway refused) or the connection is broken: answer, then close.
    if (!s.http2) extra = { connection: 'close' };
    s.res.once('finish', () => s.req.destroy());
  }
  sendError(s.res, err, s.requestId, s.startMs, extra, errorShapeOf(s.operation));
  if (err.status >= 500) logServerError(rt, s.requestId, err.status, err.code, err.code === 'internal_error' ? err.cause : undefined);
  finishLocal(rt, s, err.status, err);
}

/** Every 5xx the gateway itself answers is logged under its request id, so the id a client reports finds it. */
export function logServerError(rt: GatewayRuntime, requestId: string, status: number, code: string, cause: unknown): void {
  const fields = cause === undefined ? { requestId, status, code } : { requestId, status, code, err: cause };
  if (status === 500) rt.logger.error('request failed', fields);
  else rt.logger.warn('request failed', fields);
}

// Each finish builds its outcome as one complete object literal: spreading a shared base and
// overriding most of its fields cost two more copies of the object per request, and left it in
// V8's slow dictionary form for every reader after (metrics, accounting, the access log).

export function finishLocal(rt: GatewayRuntime, s: RequestState, status: number, err: GatewayError | undefined): void {
  rt.sink.requestFinished(
    {
      requestId: s.requestId,
      startedAt: s.startedAt,
      operation: s.operation,
      method: s.req.method ?? 'GET',
      path: s.path,
      httpVersion: httpVersion(s),
      workload: headerString(s.req.headers['x-workload-app']),
      apiKey: s.apiKey,
      routeKey: undefined,
      ruleId: undefined,
      backendKey: undefined,
      endpoint: undefined,
      endpointPick: undefined,
      provider: undefined,
      originalModel: undefined,
      requestModel: undefined,
      responseModel: undefined,
      stream: false,
      status,
      errorCode: err?.code,
      clientAborted: false,
      aborted: false,
      attempts: 0,
      usage: undefined,
      requestBody: undefined,
      completionText: undefined,
      completionOverflowChars: 0,
      auditSampled: undefined,
      durationMs: nowMs() - s.startMs,
      upstreamMs: undefined,
      ttfbMs: undefined,
      requestBytes: 0,
      responseBytes: 0,
      generation: s.generation?.id ?? 0,
      trace: s.trace,
      settleUsage: undefined,
    },
    s.generation,
  );
}

export function finishProxied(
  rt: GatewayRuntime,
  s: RequestState,
  gen: Generation,
  routeKey: string,
  ruleId: string,
  model: string | undefined,
  stream: boolean,
  requestBytes: number,
  body: Readonly<Record<string, unknown>>,
  r: ProxyResult,
  settleUsage: (usage: Usage) => void,
): void {
  if (r.status >= 500 && r.errorCode !== undefined) logServerError(rt, s.requestId, r.status, r.errorCode, undefined);
  rt.sink.requestFinished(
    {
      requestId: s.requestId,
      startedAt: s.startedAt,
      operation: s.operation,
      method: s.req.method ?? 'GET',
      path: s.path,
      httpVersion: httpVersion(s),
      workload: headerString(s.req.headers['x-workload-app']),
      apiKey: s.apiKey,
      routeKey,
      ruleId,
      backendKey: r.backend?.backend.key,
      endpoint: r.endpoint,
      endpointPick: r.endpointPick,
      provider: r.backend === undefined ? undefined : providerName(r.backend.backend.schema.name),
      originalModel: model,
      requestModel: r.requestModel,
      responseModel: r.responseModel,
      stream,
      status: r.status,
      errorCode: r.errorCode,
      clientAborted: r.clientAborted,
      aborted: r.aborted,
      attempts: r.attempts,
      usage: r.usage,
      requestBody: body,
      completionText: r.completionText,
      completionOverflowChars: r.completionOverflowChars,
      auditSampled: r.auditSampled,
      durationMs: nowMs() - s.startMs,
      upstreamMs: r.upstreamMs,
      ttfbMs: r.ttfbMs,
      requestBytes,
      responseBytes: r.responseBytes,
      generation: s.generation?.id ?? 0,
      trace: s.trace,
      settleUsage,
    },
    gen,
  );
}

function httpVersion(s: RequestState): RequestOutcome['httpVersion'] {
  return s.http2 ? '2' : s.req.httpVersion === '1.0' ? '1.0' : '1.1';
}
