// `tollgate sim --api bedrock`: Amazon Bedrock Runtime: POST /model/{modelId}/converse,
// /converse-stream (AWS event-stream), /invoke and /invoke-with-response-stream (Claude's Messages
// body, Titan and Cohere embeddings). Every request must carry a valid SigV4 signature for the
// configured key pair, region and service `bedrock` (or a Bedrock API key as a bearer token); failures
// are answered as Bedrock does: 403 with `x-amzn-errortype` and `{"message": …}`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { amzDate, computeSignature, parseAuthorization, sha256Hex, signingKey } from '../../protocol/sigv4.js';
import { ClaudeError, checkClaudeBody, claudeEvents, claudeInputCount, claudeMessage, claudeReply } from './claude.js';
import { AwsError, checkConverse, conversePlan, converseFrames, converseResponse, eventFrame, exceptionFrame } from './bedrock-converse.js';
import { controls, header, paced, parseJsonBody, readBody, sendJson } from './http.js';
import { splitUrl, startProviderServer, type ProviderSimOptions, type ProviderSimServer, type SimContext } from './server.js';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

const PATH = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream|count-tokens)$/;
const MAX_SKEW_MS = 5 * 60_000;

function sendAwsError(res: ServerResponse, e: AwsError, requestId: string): void {
  sendJson(res, e.status, { message: e.message }, { 'x-amzn-errortype': `${e.type}:http://internal.amazon.com/coral/com.amazon.bedrock/`, 'x-amzn-requestid': requestId });
}

function one(req: IncomingMessage, name: string): string {
  // HTTP/2 carries the host as the :authority pseudo-header.
  const v = req.headers[name] ?? (name === 'host' ? req.headers[':authority'] : undefined);
  return Array.isArray(v) ? v.join(',') : (v ?? '');
}

/** SigV4 verification as AWS does it: the same canonical request from what arrived on the wire. */
export function verifySigV4(opts: ProviderSimOptions, req: IncomingMessage, rawPath: string, rawQuery: string, body: Buffer, nowMs: number): AwsError | undefined {
  const auth = header(req, 'authorization');
  if (auth === undefined) return new AwsError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  const bearer = /^Bearer\s+(\S+)$/i.exec(auth);
  if (bearer !== null) {
    if (opts.apiKey !== undefined && bearer[1] === opts.apiKey) return undefined;
    return new AwsError(403, 'UnrecognizedClientException', 'Invalid API Key format: Must be a valid Bedrock API key.');
  }
  const p = parseAuthorization(auth);
  if (p === undefined) return new AwsError(403, 'IncompleteSignatureException', `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.`);
  if (opts.accessKeyId === undefined || opts.secretAccessKey === undefined || p.accessKeyId !== opts.accessKeyId) {
    return new AwsError(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  const date = header(req, 'x-amz-date');
  if (date === undefined) return new AwsError(403, 'IncompleteSignatureException', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  const region = opts.region ?? 'us-east-1';
  if (p.region !== region) return new AwsError(403, 'InvalidSignatureException', `Credential should be scoped to a valid region. `);
  if (p.service !== 'bedrock') return new AwsError(403, 'InvalidSignatureException', "Credential should be scoped to correct service: 'bedrock'. ");
  if (p.date !== date.slice(0, 8)) return new AwsError(403, 'InvalidSignatureException', 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.');
  const t = Date.parse(`${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`);
  if (!Number.isFinite(t) || Math.abs(nowMs - t) > MAX_SKEW_MS) {
    return new AwsError(403, 'InvalidSignatureException', `Signature expired: ${date} is now earlier than ${amzDate(nowMs - MAX_SKEW_MS)} (${amzDate(nowMs)} - 5 min.)`);
  }
  if (!p.signedHeaders.includes('host') && !p.signedHeaders.includes(':authority')) return new AwsError(403, 'InvalidSignatureException', 'The host header must be signed.');
  const headers: Record<string, string> = {};
  for (const h of p.signedHeaders) headers[h] = one(req, h);
  const declared = header(req, 'x-amz-content-sha256');
  const payloadHash = declared !== undefined && declared !== '' ? declared : sha256Hex(body);
  if (declared !== undefined && declared !== 'UNSIGNED-PAYLOAD' && declared !== sha256Hex(body)) {
    return new AwsError(400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
  }
  const parts = computeSignature({ method: req.method ?? 'POST', path: rawPath, query: rawQuery, headers, payloadHash }, date, region, 'bedrock', signingKey(opts.secretAccessKey, p.date, region, 'bedrock'));
  if (parts.signature !== p.signature) {
    return new AwsError(
      403,
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  }
  return undefined;
}

async function handle(ctx: SimContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const rawQuery = q === -1 ? '' : url.slice(q + 1);
  const raw = await readBody(req);
  const denied = verifySigV4(ctx.opts, req, rawPath, rawQuery, raw, Date.now());
  if (denied !== undefined) return sendAwsError(res, denied, requestId);
  const { path } = splitUrl(req);
  const m = PATH.exec(path);
  if (m === null || req.method !== 'POST') return sendAwsError(res, new AwsError(404, 'UnknownOperationException', 'Unknown operation'), requestId);
  const model = decodeURIComponent(m[1] as string);
  const op = m[2] as string;
  const body = parseJsonBody(raw);
  ctx.seen.add(req, body);
  const c = controls(req);
  try {
    if (c.errorStatus !== undefined) throw injected(c.errorStatus);
    if (body === undefined) throw new AwsError(400, 'ValidationException', 'Malformed input request, please reformat your input and try again.');
    switch (op) {
      case 'converse': {
        const r = conversePlan(ctx.engine, checkConverse(body), c.outputTokens);
        sendJson(res, 200, converseResponse(ctx.engine, r), { 'x-amzn-requestid': requestId });
        return;
      }
      case 'converse-stream': {
        const frames = converseFrames(ctx.engine, conversePlan(ctx.engine, checkConverse(body), c.outputTokens));
        return await stream(ctx, res, requestId, frames, c.fault);
      }
      case 'count-tokens':
        sendJson(res, 200, { inputTokens: countTokensInput(ctx, body) }, { 'x-amzn-requestid': requestId });
        return;
      case 'invoke':
      case 'invoke-with-response-stream':
        return await invoke(ctx, req, res, requestId, model, body, op === 'invoke-with-response-stream');
    }
  } catch (err) {
    if (err instanceof AwsError) return sendAwsError(res, err, requestId);
    if (err instanceof ClaudeError) return sendAwsError(res, new AwsError(err.status, 'ValidationException', err.message), requestId);
    throw err;
  }
}

/** CountTokens: `input.invokeModel.body` (the InvokeModel body, base64) or `input.converse`. */
function countTokensInput(ctx: SimContext, body: unknown): number {
  const input = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['input'] : undefined;
  const rec = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {};
  const invoke = rec['invokeModel'];
  if (typeof invoke === 'object' && invoke !== null && typeof (invoke as Record<string, unknown>)['body'] === 'string') {
    let inner: unknown;
    try {
      inner = JSON.parse(Buffer.from((invoke as Record<string, string>)['body'] as string, 'base64').toString('utf8'));
    } catch {
      throw new AwsError(400, 'ValidationException', 'input.invokeModel.body is not base64-encoded JSON.');
    }
    return claudeInputCount(ctx.engine, inner);
  }
  if (typeof rec['converse'] === 'object' && rec['converse'] !== null) return claudeInputCount(ctx.engine, rec['converse']);
  throw new AwsError(400, 'ValidationException', 'input must hold invokeModel or converse.');
}

function injected(status: number): AwsError {
  switch (status) {
    case 429:
      return new AwsError(429, 'ThrottlingException', 'Too many requests, please wait before trying again.');
    case 503:
      return new AwsError(503, 'ServiceUnavailableException', 'Bedrock is unable to process your request.');
    case 500:
      return new AwsError(500, 'InternalServerException', 'The server encountered an error processing your request.');
    case 404:
      return new AwsError(404, 'ResourceNotFoundException', 'Could not resolve the foundation model from the provided model identifier.');
    case 403:
      return new AwsError(403, 'AccessDeniedException', "You don't have access to the model with the specified model ID.");
    case 408:
      return new AwsError(408, 'ModelTimeoutException', 'The request took too long to process.');
    default:
      return new AwsError(status, 'ValidationException', `Injected error ${status} (x-sim-error)`);
  }
}

async function stream(ctx: SimContext, res: ServerResponse, requestId: string, frames: Buffer[], fault: 'truncate' | 'midstream-error' | undefined): Promise<void> {
  if (fault === 'truncate') frames.splice(Math.max(1, frames.length - 3));
  if (fault === 'midstream-error') {
    frames.splice(Math.max(1, frames.length - 3));
    frames.push(exceptionFrame('throttlingException', 'Too many requests, please wait before trying again.'));
  }
  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': requestId, 'x-amzn-bedrock-content-type': 'application/json' });
  await paced(res, frames, ctx.opts.ttftMs ?? 0, ctx.opts.itlMs ?? 0);
  res.end();
}

async function invoke(ctx: SimContext, req: IncomingMessage, res: ServerResponse, requestId: string, model: string, body: unknown, streamed: boolean): Promise<void> {
  const c = controls(req);
  if (model.includes('anthropic.') || model.includes('claude')) {
    const checked = checkClaudeBody(body, 'bedrock');
    const reply = claudeReply(ctx.engine, checked.body, c.outputTokens);
    if (!streamed) {
      sendJson(res, 200, claudeMessage(ctx.engine, reply, model), {
        'x-amzn-requestid': requestId,
        'x-amzn-bedrock-input-token-count': String(reply.inputTokens),
        'x-amzn-bedrock-output-token-count': String(reply.outputTokens),
      });
      return;
    }
    const events: Rec[] = claudeEvents(ctx.engine, reply, model);
    const last = events[events.length - 1];
    if (last !== undefined) {
      last['amazon-bedrock-invocationMetrics'] = { inputTokenCount: reply.inputTokens, outputTokenCount: reply.outputTokens, invocationLatency: 1, firstByteLatency: 1 };
    }
    const frames = events.map((e) => eventFrame('chunk', { bytes: Buffer.from(JSON.stringify(e)).toString('base64') }));
    return stream(ctx, res, requestId, frames, c.fault);
  }
  if (streamed) throw new AwsError(400, 'ValidationException', 'The model does not support streaming.');
  if (model.includes('titan-embed')) {
    if (!isRec(body) || typeof body['inputText'] !== 'string' || body['inputText'] === '') throw new AwsError(400, 'ValidationException', 'Malformed input request: #: required key [inputText] not found, please reformat your input and try again.');
    const dims = typeof body['dimensions'] === 'number' ? body['dimensions'] : 1024;
    sendJson(res, 200, { embedding: ctx.engine.embed(body['inputText'], dims), inputTextTokenCount: ctx.engine.count(body['inputText']) }, { 'x-amzn-requestid': requestId });
    return;
  }
  if (model.includes('cohere.embed')) {
    const texts = isRec(body) && Array.isArray(body['texts']) ? (body['texts'] as unknown[]) : undefined;
    if (texts === undefined || !texts.every((t) => typeof t === 'string')) throw new AwsError(400, 'ValidationException', 'Malformed input request: #: required key [texts] not found, please reformat your input and try again.');
    sendJson(res, 200, { id: requestId, embeddings: (texts).map((t) => ctx.engine.embed(t, 1024)), response_type: 'embeddings_floats', texts }, { 'x-amzn-requestid': requestId });
    return;
  }
  throw new AwsError(400, 'ValidationException', `The simulator's InvokeModel serves anthropic.*, amazon.titan-embed* and cohere.embed* models; use Converse for ${model}.`);
}

export function startBedrockSim(opts: ProviderSimOptions = {}): Promise<ProviderSimServer> {
  return startProviderServer('bedrock', handle, opts);
}
