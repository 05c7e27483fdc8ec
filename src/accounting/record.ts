// The usage record: one per finished request, what the ledger stores, the database receives, the
// access log prints and chargeback reads. Built from the request outcome; the gateway's own token
// count is added when counting finishes.
import { isoTime } from '../core/clock.js';
import type { ErrorCode } from '../core/errors.js';
import type { Operation, RequestOutcome } from '../core/outcome.js';
import { makeUsage, type Usage } from '../core/usage.js';
import type { EncodingName } from '../tokenizer/index.js';
import type { JsonLine } from './ledger/json-line.js';

/**
 * Who the billed usage comes from: the backend's report; the gateway's own count (the response
 * carried no usage); a character-based estimate (the gateway's count did not run: backlog full or a
 * request over the size counted exactly, or the process died between the response and the count);
 * none (nothing was generated).
 */
export type UsageSource = 'backend' | 'gateway' | 'estimate' | 'none';

export const USAGE_SOURCES: readonly UsageSource[] = ['backend', 'gateway', 'estimate', 'none'];

export interface GatewayCount {
  readonly encoding: EncodingName;
  readonly input: number;
  readonly output: number;
}

export interface UsageRecord {
  /** Unique per record (process id + sequence); request ids may repeat when clients send their own. */
  readonly key: string;
  readonly requestId: string;
  /** Epoch ms, arrival. */
  readonly startedAt: number;
  readonly operation: Operation;
  /** `x-workload-app` as sent (at most 128 characters), '' when absent. */
  readonly workload: string;
  /** The virtual key's id ('' when the request used none) and the team it belongs to (''). */
  readonly apiKey: string;
  readonly team: string;
  readonly route: string;
  readonly rule: string;
  readonly backend: string;
  readonly provider: string;
  readonly originalModel: string;
  readonly requestModel: string;
  readonly responseModel: string;
  readonly stream: boolean;
  readonly status: number;
  readonly errorCode: ErrorCode | '';
  readonly clientAborted: boolean;
  /** The response was cut before its end; its usage is what passed until then. */
  readonly aborted: boolean;
  readonly attempts: number;
  /** Usage as the backend reported it, when the response carried it. */
  readonly backendUsage: Usage | undefined;
  /** The gateway's own count; undefined until counted (or when there was nothing to count). */
  readonly gatewayCount: GatewayCount | undefined;
  /** The usage billed: the backend's when reported, else the gateway's count, else an estimate. */
  readonly usage: Usage;
  readonly usageSource: UsageSource;
  /** Cost units at the gateway's rates (flat base rates), when the gateway was given a rates file. */
  readonly cost: number | undefined;
  readonly ttftMs: number | undefined;
  readonly durationMs: number;
  readonly upstreamMs: number | undefined;
  /** Config generation that served the request. */
  readonly generation: number;
  /** False for the first line of a request whose gateway count is still running. */
  readonly final: boolean;
}

const MAX_LABEL = 128;

function clip(s: string | undefined): string {
  if (s === undefined) return '';
  return s.length > MAX_LABEL ? s.slice(0, MAX_LABEL) : s;
}

/** The record as it stands when the response has ended (before the gateway's count). */
export function baseRecord(key: string, o: RequestOutcome, estimate: { input: number; output: number } | undefined): UsageRecord {
  const backendUsage = o.usage;
  let usage: Usage;
  let usageSource: UsageSource;
  if (backendUsage !== undefined) {
    usage = backendUsage;
    usageSource = 'backend';
  } else if (estimate !== undefined && (estimate.input > 0 || estimate.output > 0)) {
    usage = makeUsage(estimate);
    usageSource = 'estimate';
  } else {
    usage = makeUsage({});
    usageSource = 'none';
  }
  return {
    key,
    requestId: o.requestId,
    startedAt: o.startedAt,
    operation: o.operation,
    workload: clip(o.workload),
    apiKey: o.apiKey?.id ?? '',
    team: o.apiKey?.team ?? '',
    route: o.routeKey ?? '',
    rule: o.ruleId ?? '',
    backend: o.backendKey ?? '',
    provider: o.provider ?? '',
    originalModel: clip(o.originalModel),
    requestModel: clip(o.requestModel ?? o.originalModel),
    responseModel: clip(o.responseModel),
    stream: o.stream,
    status: o.status,
    errorCode: o.errorCode ?? '',
    clientAborted: o.clientAborted,
    aborted: o.aborted,
    attempts: o.attempts,
    backendUsage,
    gatewayCount: undefined,
    usage,
    usageSource,
    cost: undefined,
    // Microseconds are plenty, and every sink then stores the very same numbers.
    ttftMs: o.stream ? micro(o.ttfbMs) : undefined,
    durationMs: micro(o.durationMs) ?? 0,
    upstreamMs: micro(o.upstreamMs),
    generation: o.generation,
    final: true,
  };
}

function micro(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms * 1000) / 1000;
}

/** The record with the gateway's count added: it becomes the billed usage when the backend reported none. */
export function withGatewayCount(r: UsageRecord, count: GatewayCount): UsageRecord {
  if (r.backendUsage !== undefined) return { ...r, gatewayCount: count, final: true };
  const usage = makeUsage({ input: count.input, output: count.output });
  return { ...r, gatewayCount: count, usage, usageSource: usage.total > 0 ? 'gateway' : 'none', final: true };
}

// ---- JSON lines -------------------------------------------------------------------------------
//
// Field names are snake_case and stable: the ledger is read by chargeback, by people with jq, and by
// future versions. `v` versions the line format.

export const LEDGER_VERSION = 1;

/**
 * Writes the record's ledger line into `out` (begin to end). `final` overrides the record's own
 * flag (the first line of a record whose count is still running).
 */
export function writeLedgerLine(out: JsonLine, r: UsageRecord, final = r.final): number {
  out.begin().num('v', LEDGER_VERSION).str('key', r.key).bool('final', final).str('request_id', r.requestId);
  out.str('time', isoTime(r.startedAt)).str('operation', r.operation).str('workload', r.workload);
  // Requests without a virtual key have neither field (as lines from before virtual keys).
  if (r.apiKey !== '') out.str('api_key', r.apiKey).str('team', r.team);
  out.str('route', r.route).str('rule', r.rule).str('backend', r.backend).str('provider', r.provider);
  out.str('original_model', r.originalModel).str('request_model', r.requestModel).str('response_model', r.responseModel);
  out.bool('stream', r.stream).num('status', r.status).str('error_code', r.errorCode);
  out.bool('client_aborted', r.clientAborted).bool('aborted', r.aborted).num('attempts', r.attempts);
  writeUsage(out.open('usage'), r.usage).close();
  out.str('usage_source', r.usageSource);
  if (r.backendUsage === undefined) out.null('backend_usage');
  else writeUsage(out.open('backend_usage'), r.backendUsage).close();
  const gc = r.gatewayCount;
  if (gc === undefined) out.null('gateway_count');
  else out.open('gateway_count').str('encoding', gc.encoding).num('input', gc.input).num('output', gc.output).close();
  out.num('cost', r.cost).num('ttft_ms', r.ttftMs).num('duration_ms', r.durationMs).num('upstream_ms', r.upstreamMs);
  return out.num('generation', r.generation).end();
}

function writeUsage(out: JsonLine, u: Usage): JsonLine {
  out.num('input', u.input).num('cached_input', u.cachedInput).num('cache_creation_input', u.cacheCreationInput);
  return out.num('output', u.output).num('reasoning', u.reasoning).num('total', u.total);
}

export class RecordFormatError extends Error {}

/** Parses one ledger line (a JSON object) back into a record; throws RecordFormatError naming the problem. */
export function recordFromJson(o: unknown): UsageRecord {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new RecordFormatError('not a JSON object');
  const j = o as Record<string, unknown>;
  if (j['v'] !== LEDGER_VERSION) throw new RecordFormatError(`unsupported ledger line version ${JSON.stringify(j['v'])} (this tollgate reads version ${LEDGER_VERSION})`);
  const str = (k: string): string => {
    const v = j[k];
    if (typeof v !== 'string') throw new RecordFormatError(`field "${k}" must be a string`);
    return v;
  };
  const int = (k: string): number => {
    const v = j[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RecordFormatError(`field "${k}" must be a number`);
    return v;
  };
  const optNum = (k: string): number | undefined => {
    const v = j[k];
    if (v === null || v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RecordFormatError(`field "${k}" must be a number or null`);
    return v;
  };
  const startedAt = Date.parse(str('time'));
  if (Number.isNaN(startedAt)) throw new RecordFormatError('field "time" is not an ISO-8601 time');
  const source = str('usage_source');
  if (!(USAGE_SOURCES as readonly string[]).includes(source)) throw new RecordFormatError(`field "usage_source" is not one of ${USAGE_SOURCES.join(', ')}`);
  const gc = j['gateway_count'];
  let gatewayCount: GatewayCount | undefined;
  if (gc !== null && gc !== undefined) {
    if (typeof gc !== 'object') throw new RecordFormatError('field "gateway_count" must be an object or null');
    const g = gc as Record<string, unknown>;
    if (typeof g['encoding'] !== 'string' || typeof g['input'] !== 'number' || typeof g['output'] !== 'number') {
      throw new RecordFormatError('field "gateway_count" needs encoding, input and output');
    }
    gatewayCount = { encoding: g['encoding'] as EncodingName, input: g['input'], output: g['output'] };
  }
  return {
    key: str('key'),
    final: j['final'] === true,
    requestId: str('request_id'),
    startedAt,
    operation: str('operation') as Operation,
    workload: str('workload'),
    // Lines from before virtual keys, and requests without one, have neither field.
    apiKey: typeof j['api_key'] === 'string' ? j['api_key'] : '',
    team: typeof j['team'] === 'string' ? j['team'] : '',
    route: str('route'),
    rule: str('rule'),
    backend: str('backend'),
    provider: str('provider'),
    originalModel: str('original_model'),
    requestModel: str('request_model'),
    responseModel: str('response_model'),
    stream: j['stream'] === true,
    status: int('status'),
    errorCode: str('error_code') as ErrorCode | '',
    clientAborted: j['client_aborted'] === true,
    aborted: j['aborted'] === true,
    attempts: int('attempts'),
    usage: parseUsage(j['usage'], 'usage'),
    usageSource: source as UsageSource,
    backendUsage: j['backend_usage'] === null || j['backend_usage'] === undefined ? undefined : parseUsage(j['backend_usage'], 'backend_usage'),
    gatewayCount,
    cost: optNum('cost'),
    ttftMs: optNum('ttft_ms'),
    durationMs: int('duration_ms'),
    upstreamMs: optNum('upstream_ms'),
    generation: int('generation'),
  };
}

function parseUsage(v: unknown, field: string): Usage {
  if (typeof v !== 'object' || v === null) throw new RecordFormatError(`field "${field}" must be an object`);
  const u = v as Record<string, unknown>;
  const n = (k: string): number => {
    const x = u[k];
    if (x === undefined) return 0;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new RecordFormatError(`field "${field}.${k}" must be a non-negative number`);
    return x;
  };
  return makeUsage({
    input: n('input'),
    cachedInput: n('cached_input'),
    cacheCreationInput: n('cache_creation_input'),
    output: n('output'),
    reasoning: n('reasoning'),
    total: u['total'] === undefined ? undefined : n('total'),
  });
}
