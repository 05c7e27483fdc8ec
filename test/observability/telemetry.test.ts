// The exposition passes `promtool check metrics`, label values stay bounded by the config, and the
// access log and OTLP traces carry what a request did (traces to a real HTTP collector endpoint).
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { traceOptionsFromEnv } from '../../src/telemetry/traces.js';
import { backendYaml, eventually, routeYaml } from '../helpers/gateway.js';
import { CHAT, parseProm, postJson, startObsGateway, sumOf, type ObsGateway } from './helpers.js';

interface Collected {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: { resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: Record<string, unknown> }> }; scopeSpans: Array<{ spans: Span[] }> }> };
}
interface Span {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  events: Array<{ name: string }>;
  status: { code: number; message?: string };
}

let sim: SimServerHandle;
let gw: ObsGateway;
let work: string;
let collector: http.Server;
const collected: Collected[] = [];

beforeAll(async () => {
  sim = await startSimServer({ profile: 'fast', model: 'gpt-4o-mini', seed: 5 });
  work = await mkdtemp(join(tmpdir(), 'tollgate-tel-'));
  // An OTLP/HTTP endpoint: accepts JSON ExportTraceServiceRequest bodies at /v1/traces.
  collector = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type'] === 'application/json') {
        collected.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) as Collected['body'] });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const otel = traceOptionsFromEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
    OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=finops,authorization=Bearer%20otel-token',
    OTEL_SERVICE_NAME: 'tollgate-test',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true',
  });
  gw = await startObsGateway(
    {
      'b.yaml': backendYaml('sim', [{ port: sim.port }]),
      'r.yaml': routeYaml('r', [
        { matches: [{ 'x-workload-app': 'app-a' }], backends: [{ name: 'sim' }] },
        // Any model, any workload: model names come from clients here.
        { matches: [{ 'x-workload-app': '~free-.*' }], backends: [{ name: 'sim' }] },
      ]),
    },
    { accessLog: { file: join(work, 'access.log') }, traces: otel },
  );
});

afterAll(async () => {
  await gw.close();
  await sim.close();
  await new Promise<void>((r) => collector.close(() => r()));
  await rm(work, { recursive: true, force: true });
});

describe('metrics exposition', () => {
  it('passes promtool check metrics after traffic of every kind', async () => {
    await postJson(gw.url + CHAT, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { 'x-workload-app': 'app-a' });
    await fetch(gw.url + CHAT, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-workload-app': 'app-a' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true }),
    }).then((r) => r.text());
    await postJson(gw.url + CHAT, { model: 'gpt-4o-mini', messages: [] }, { 'x-workload-app': 'app-a' });
    await postJson(gw.url + '/v1/nope', {});
    await gw.settled();
    const text = await gw.metrics();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });

  it('bounds label values: unknown workloads and invented models never become series', async () => {
    // A regex route accepts any "free-…" workload and any model; the backend rejects unknown models.
    for (let i = 0; i < 20; i++) {
      await postJson(gw.url + CHAT, { model: `invented-model-${i}`, messages: [{ role: 'user', content: 'x' }] }, { 'x-workload-app': `free-${i}` });
    }
    await gw.settled();
    const text = await gw.metrics();
    expect(text).not.toMatch(/invented-model-/);
    expect(text).not.toMatch(/free-\d/);
    const m = parseProm(text);
    expect(sumOf(m, 'gen_ai_server_request_duration_seconds_count', { gen_ai_request_model: 'unknown', workload: 'unknown' })).toBe(20);
    // A model the backend served is a legitimate label value even when the config names no model.
    expect(sumOf(m, 'gen_ai_client_token_usage_token_count', { gen_ai_request_model: 'gpt-4o-mini', workload: 'app-a', gen_ai_token_type: 'input' })).toBe(2);
  });

  it('counts requests and streams in flight, and returns both to zero when they end', async () => {
    const gauges = async (): Promise<[number, number]> => {
      const m = parseProm(await gw.metrics());
      return [sumOf(m, 'tollgate_requests_in_flight'), sumOf(m, 'tollgate_streams_in_flight')];
    };
    const res = await fetch(gw.url + CHAT, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-workload-app': 'app-a', 'x-sim-output-tokens': '3000' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a long answer' }], stream: true, max_tokens: 3000 }),
    });
    const reader = res.body!.getReader();
    await reader.read(); // the stream has begun
    // A non-streamed request in flight at the same time counts as a request, not as a stream.
    const plain = postJson(gw.url + CHAT, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3000 }, { 'x-workload-app': 'app-a', 'x-sim-output-tokens': '3000' });
    try {
      await eventually(async () => (await gauges())[0] === 2, 'two requests in flight');
      expect(await gauges()).toEqual([2, 1]);
    } finally {
      while (!(await reader.read()).done);
      await plain;
    }
    await eventually(async () => (await gauges()).join() === '0,0', 'nothing in flight');
  });
});

describe('access log', () => {
  it('writes one JSON line per request with route, backend, models, usage and durations', async () => {
    const r = await postJson(gw.url + CHAT, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'log me' }], max_tokens: 3 }, { 'x-workload-app': 'app-a', 'x-request-id': 'access-1' });
    await gw.settled();
    let line: Record<string, unknown> | undefined;
    await eventually(async () => {
      const lines = (await readFile(join(work, 'access.log'), 'utf8')).trim().split('\n');
      line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['x_request_id'] === 'access-1');
      return line !== undefined;
    }, 'the access log line');
    const usage = r.json?.['usage'] as { prompt_tokens: number; completion_tokens: number };
    expect(line).toMatchObject({
      method: 'POST',
      path: '/v1/chat/completions',
      protocol: 'HTTP/1.1',
      response_code: 200,
      workload: 'app-a',
      route_name: 'default/r',
      upstream_cluster: 'default/sim',
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.usage.input_tokens': usage.prompt_tokens,
      'gen_ai.usage.output_tokens': usage.completion_tokens,
      usage_source: 'backend',
    });
    expect(line?.['duration_ms']).toBeGreaterThan(0);
    expect(line?.['upstream_service_time_ms']).toBeGreaterThan(0);
  });
});

describe('OTLP traces', () => {
  it('exports one GenAI span per request, with usage, errors and (opted in) message content', async () => {
    await postJson(gw.url + CHAT, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'trace this secret plan' }], max_tokens: 4, temperature: 0.5 }, { 'x-workload-app': 'app-a', 'x-request-id': 'trace-1' });
    await postJson(gw.url + CHAT, { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }, { 'x-workload-app': 'app-a', 'x-request-id': 'trace-2' });
    await gw.settled();
    const spans = (): Span[] => collected.flatMap((c) => c.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans)));
    const byId = (id: string): Span | undefined => spans().find((s) => s.attributes.some((a) => a.key === 'tollgate.request_id' && a.value['stringValue'] === id));
    await eventually(() => byId('trace-1') !== undefined && byId('trace-2') !== undefined, 'spans at the collector');
    const ok = byId('trace-1') as Span;
    const attrs = Object.fromEntries(ok.attributes.map((a) => [a.key, Object.values(a.value)[0]]));
    expect(ok.name).toBe('chat gpt-4o-mini');
    expect(ok.kind).toBe(3);
    expect(ok.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(ok.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(BigInt(ok.endTimeUnixNano) > BigInt(ok.startTimeUnixNano)).toBe(true);
    expect(attrs).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.request.max_tokens': '4',
      'gen_ai.request.temperature': 0.5,
      'gen_ai.usage.output_tokens': '4',
      'tollgate.workload': 'app-a',
    });
    expect(String(attrs['gen_ai.input.messages'])).toContain('trace this secret plan');
    expect(ok.status.code).toBe(1);
    const failed = byId('trace-2') as Span;
    expect(failed.status.code).toBe(2);
    expect(failed.attributes.find((a) => a.key === 'error.type')?.value['stringValue']).toBe('upstream_rejected');
    const first = collected[0];
    expect(first?.headers['x-tenant']).toBe('finops');
    expect(first?.headers['authorization']).toBe('Bearer otel-token');
    expect(first?.body.resourceSpans[0]?.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'tollgate-test' } });
  });

  it('leaves message content out unless opted in, and rejects endpoints it cannot use', () => {
    const o = traceOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/' });
    expect(o?.url).toBe('http://127.0.0.1:4318/v1/traces');
    expect(o?.captureContent).toBe(false);
    expect(traceOptionsFromEnv({})).toBeUndefined();
    expect(traceOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x', OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
    expect(() => traceOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/http\/json/);
    expect(() => traceOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' })).toThrow(/not an http/);
  });
});
