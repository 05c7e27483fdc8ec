// W3C trace context through the gateway: a client's `traceparent` is continued (the gateway's span
// is its child, the upstream's parent), a missing or invalid one starts a new trace, an unsampled
// one is honoured, and with tracing off the header passes through untouched. Real sockets: a
// recording upstream, an OTLP/HTTP collector, the gateway between them.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTraceparent } from '../../src/core/trace-context.js';
import { traceOptionsFromEnv } from '../../src/telemetry/traces.js';
import { backendYaml, eventually, routeYaml } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { CHAT, startObsGateway, type ObsGateway } from './helpers.js';

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

const PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

let upstream: Upstream;
let traced: ObsGateway;
let untraced: ObsGateway;
let collector: http.Server;
const spans: Span[] = [];

beforeAll(async () => {
  upstream = await startUpstream();
  collector = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Span[] }> }> };
      spans.push(...body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans)));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const manifests = {
    'b.yaml': backendYaml('up', [{ port: upstream.port }]),
    'r.yaml': routeYaml('r', [{ backends: [{ name: 'up' }] }]),
  };
  const traces = traceOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`, OTEL_BSP_SCHEDULE_DELAY: '20' });
  traced = await startObsGateway(manifests, { traces });
  untraced = await startObsGateway(manifests);
});

afterAll(async () => {
  await traced.close();
  await untraced.close();
  await upstream.close();
  await new Promise<void>((r) => collector.close(() => r()));
});

/** Sends one chat request; returns what the upstream received as traceparent and the span exported for it (if any). */
async function exchange(gw: ObsGateway, id: string, traceparent?: string | string[]): Promise<{ upstream: string | undefined; span: () => Span | undefined }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': id };
  const res = await fetch(gw.url + CHAT, {
    method: 'POST',
    headers: traceparent === undefined ? headers : Array.isArray(traceparent) ? [...Object.entries(headers), ...traceparent.map((t): [string, string] => ['traceparent', t])] : { ...headers, traceparent },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status).toBe(200);
  await res.text();
  await gw.settled();
  const rec = upstream.requests.find((r) => r.headers['x-request-id'] === id);
  const tp = rec?.headers['traceparent'];
  const span = (): Span | undefined => spans.find((s) => s.attributes.some((a) => a.key === 'tollgate.request_id' && a.value['stringValue'] === id));
  return { upstream: typeof tp === 'string' ? tp : undefined, span };
}

describe('traceparent', () => {
  it('continues the client trace: the span is the client span’s child and the upstream’s parent', async () => {
    const r = await exchange(traced, 'tc-1', `00-${PARENT_TRACE}-${PARENT_SPAN}-01`);
    await eventually(() => r.span() !== undefined, 'the span at the collector');
    const span = r.span() as Span;
    expect(span.traceId).toBe(PARENT_TRACE);
    expect(span.parentSpanId).toBe(PARENT_SPAN);
    expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(span.spanId).not.toBe(PARENT_SPAN);
    expect(r.upstream).toBe(`00-${PARENT_TRACE}-${span.spanId}-01`);
  });

  it('starts a new trace when there is none, or the header is invalid or sent twice', async () => {
    const cases: Array<[string, string | string[] | undefined]> = [
      ['tc-none', undefined],
      ['tc-zero', `00-${'0'.repeat(32)}-${PARENT_SPAN}-01`],
      ['tc-garbage', 'not-a-trace'],
      ['tc-upper', `00-${PARENT_TRACE.toUpperCase()}-${PARENT_SPAN}-01`],
      ['tc-twice', [`00-${PARENT_TRACE}-${PARENT_SPAN}-01`, `00-${PARENT_TRACE}-${PARENT_SPAN}-01`]],
    ];
    for (const [id, tp] of cases) {
      const r = await exchange(traced, id, tp);
      await eventually(() => r.span() !== undefined, `the span of ${id}`);
      const span = r.span() as Span;
      expect(span.traceId, id).toMatch(/^[0-9a-f]{32}$/);
      expect(span.traceId, id).not.toBe(PARENT_TRACE);
      expect(span.parentSpanId, id).toBeUndefined();
      expect(r.upstream, id).toBe(`00-${span.traceId}-${span.spanId}-01`);
    }
  });

  it('honours an unsampled parent: no span, and the upstream is told not to sample either', async () => {
    const r = await exchange(traced, 'tc-unsampled', `00-${PARENT_TRACE}-${PARENT_SPAN}-00`);
    const sampled = await exchange(traced, 'tc-after', `00-${PARENT_TRACE}-${PARENT_SPAN}-01`);
    await eventually(() => sampled.span() !== undefined, 'the later sampled span');
    expect(r.span()).toBeUndefined();
    expect(r.upstream).toMatch(new RegExp(`^00-${PARENT_TRACE}-[0-9a-f]{16}-00$`));
  });

  it('passes the client header through untouched when the gateway does not trace', async () => {
    const tp = `00-${PARENT_TRACE}-${PARENT_SPAN}-01`;
    const r = await exchange(untraced, 'tc-off', tp);
    expect(r.upstream).toBe(tp);
    const none = await exchange(untraced, 'tc-off-none');
    expect(none.upstream).toBeUndefined();
  });

  it('parses the W3C format strictly, and later versions by their first four fields', () => {
    expect(parseTraceparent(`00-${PARENT_TRACE}-${PARENT_SPAN}-01`)).toEqual({ traceId: PARENT_TRACE, spanId: PARENT_SPAN, flags: 1 });
    expect(parseTraceparent(`01-${PARENT_TRACE}-${PARENT_SPAN}-03-future`)).toEqual({ traceId: PARENT_TRACE, spanId: PARENT_SPAN, flags: 3 });
    for (const bad of [
      `00-${PARENT_TRACE}-${PARENT_SPAN}-01-extra`, // version 00 has exactly four fields
      `ff-${PARENT_TRACE}-${PARENT_SPAN}-01`, // forbidden version
      `00-${PARENT_TRACE}-${'0'.repeat(16)}-01`, // zero parent
      `00-${PARENT_TRACE}-${PARENT_SPAN}-0g`,
      `01-${PARENT_TRACE}-${PARENT_SPAN}-01x`,
      `00_${PARENT_TRACE}_${PARENT_SPAN}_01`,
      '',
    ]) {
      expect(parseTraceparent(bad), bad).toBeUndefined();
    }
  });
});
