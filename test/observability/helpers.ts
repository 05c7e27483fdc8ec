// Observability test helpers: a real gateway (in-process, real sockets on port 0) with telemetry
// options (ledger, access log, traces, sinks), and small readers for Prometheus text.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '../../src/core/log.js';
import { Gateway } from '../../src/server/gateway.js';
import type { TelemetryOptions } from '../../src/telemetry/hub.js';

export interface ObsGateway {
  readonly url: string;
  readonly adminUrl: string;
  readonly gateway: Gateway;
  readonly dir: string;
  readonly logs: string[];
  /** Waits until every gateway token count started so far has completed. */
  settled(): Promise<void>;
  metrics(): Promise<string>;
  close(): Promise<void>;
}

export async function startObsGateway(manifests: Record<string, string>, telemetry: TelemetryOptions = {}): Promise<ObsGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-obs-'));
  for (const [name, content] of Object.entries(manifests)) await writeFile(join(dir, name), content);
  const logs: string[] = [];
  const logger: Logger = createLogger({ level: 'debug', sink: { write: (l: string) => logs.push(l) } });
  const gateway = await Gateway.start({
    configPaths: [dir],
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    logger,
    drainTimeoutMs: 2_000,
    watch: false,
    telemetry: { traces: false, ...telemetry },
  });
  const adminUrl = `http://127.0.0.1:${gateway.adminAddress.port}`;
  return {
    url: `http://127.0.0.1:${gateway.dataAddress.port}`,
    adminUrl,
    gateway,
    dir,
    logs,
    settled: () => gateway.observability.settled(),
    metrics: async () => (await fetch(`${adminUrl}/metrics`)).text(),
    close: async () => {
      await gateway.shutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses Prometheus text exposition (enough for the gateway's own output). */
export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    if (m[2] !== undefined) for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, '$1');
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of samples named `name` whose labels include `where`. */
export function sumOf(samples: readonly Sample[], name: string, where: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

export const CHAT = '/v1/chat/completions';

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; json: Record<string, unknown> | undefined }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await r.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: r.status, text, json };
}

/** Reads an SSE response: the data payloads (without [DONE]) and the usage the client saw, if any. */
export function sseEvents(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const block of text.split('\n\n')) {
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n');
    if (data === '' || data === '[DONE]') continue;
    out.push(JSON.parse(data) as Record<string, unknown>);
  }
  return out;
}
