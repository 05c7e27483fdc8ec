// The access log: one JSON line per request, written when its usage record is complete (so it
// carries the token usage, as Envoy AI Gateway's access log does). Fields follow Envoy's access-log
// names where one exists (start_time, method, path, protocol, response_code, duration, bytes_*,
// x_request_id, route_name, upstream_cluster) plus the GenAI attributes. Buffered and asynchronous:
// the durable record of a request is the usage ledger, not this log.
import { createWriteStream, type WriteStream } from 'node:fs';
import type { RecordListener } from '../accounting/accountant.js';
import type { UsageRecord } from '../accounting/record.js';
import { isoTime } from '../core/clock.js';
import type { RequestOutcome } from '../core/outcome.js';
import { genAiOperation } from './metrics.js';

export type AccessLogTarget = 'stdout' | 'stderr' | { readonly file: string };

export function parseAccessLogTarget(v: string): AccessLogTarget {
  if (v === 'stdout' || v === '-') return 'stdout';
  if (v === 'stderr') return 'stderr';
  return { file: v };
}

export function accessLogLine(r: UsageRecord, o: RequestOutcome): Record<string, unknown> {
  const u = r.usage;
  return {
    start_time: isoTime(r.startedAt),
    method: o.method,
    path: o.path,
    protocol: `HTTP/${o.httpVersion}`,
    response_code: r.status,
    error_code: r.errorCode === '' ? null : r.errorCode,
    duration_ms: round(r.durationMs),
    upstream_service_time_ms: r.upstreamMs === undefined ? null : round(r.upstreamMs),
    gateway_overhead_ms: r.upstreamMs === undefined ? null : round(Math.max(0, r.durationMs - r.upstreamMs)),
    ttft_ms: r.ttftMs === undefined ? null : round(r.ttftMs),
    bytes_received: o.requestBytes,
    bytes_sent: o.responseBytes,
    x_request_id: r.requestId,
    workload: r.workload === '' ? null : r.workload,
    api_key: r.apiKey === '' ? null : r.apiKey,
    team: r.team === '' ? null : r.team,
    route_name: r.route === '' ? null : r.route,
    rule: r.rule === '' ? null : r.rule,
    upstream_cluster: r.backend === '' ? null : r.backend,
    attempts: r.attempts,
    stream: r.stream,
    client_aborted: r.clientAborted,
    'gen_ai.operation.name': genAiOperation(r.operation) ?? null,
    'gen_ai.provider.name': r.provider === '' ? null : r.provider,
    'gen_ai.original.model': r.originalModel === '' ? null : r.originalModel,
    'gen_ai.request.model': r.requestModel === '' ? null : r.requestModel,
    'gen_ai.response.model': r.responseModel === '' ? null : r.responseModel,
    'gen_ai.usage.input_tokens': u.input,
    'gen_ai.usage.cached_input_tokens': u.cachedInput,
    'gen_ai.usage.cache_creation_input_tokens': u.cacheCreationInput,
    'gen_ai.usage.output_tokens': u.output,
    'gen_ai.usage.reasoning_tokens': u.reasoning,
    'gen_ai.usage.total_tokens': u.total,
    usage_source: r.usageSource,
    gateway_input_tokens: r.gatewayCount?.input ?? null,
    gateway_output_tokens: r.gatewayCount?.output ?? null,
    cost: r.cost ?? null,
  };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export class AccessLog implements RecordListener {
  private readonly out: NodeJS.WritableStream;
  private readonly file: WriteStream | undefined;
  private failed = false;

  constructor(
    target: AccessLogTarget,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {
    if (target === 'stdout') this.out = process.stdout;
    else if (target === 'stderr') this.out = process.stderr;
    else {
      this.file = createWriteStream(target.file, { flags: 'a', mode: 0o640 });
      this.file.on('error', (err) => {
        if (!this.failed) this.onError(err);
        this.failed = true;
      });
      this.out = this.file;
    }
  }

  /** Resolves once the file is open (or rejects with why it cannot be); stdout/stderr are ready at once. */
  ready(): Promise<void> {
    const f = this.file;
    if (f === undefined || f.pending === false) return Promise.resolve();
    return new Promise((resolve, reject) => {
      f.once('ready', () => resolve());
      f.once('error', reject);
    });
  }

  recordCompleted(r: UsageRecord, o: RequestOutcome): void {
    if (this.failed) return;
    this.out.write(JSON.stringify(accessLogLine(r, o)) + '\n');
  }

  /** A line that is not about a model request (an MCP tool call). */
  writeLine(obj: Readonly<Record<string, unknown>>): void {
    if (this.failed) return;
    this.out.write(JSON.stringify(obj) + '\n');
  }

  close(): Promise<void> {
    const f = this.file;
    if (f === undefined) return Promise.resolve();
    return new Promise((resolve) => f.end(() => resolve()));
  }
}
