// Reading a stream for usage without reading it for text. The drift audit's sample is drawn as a
// request starts; a stream it did not sample is billed from the backend's usage without the gateway
// collecting its text, and one it sampled is counted by the gateway too. Two gateways over real
// sockets make the draw certain: one samples nothing (rate 0), one samples every request (rate 1).
// A stream that ends without the backend's usage is still counted exactly by the gateway, whether
// the backend never sent usage, the client left mid-answer or the stream ran long; and traces that
// capture message content still get an unsampled stream's text.
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from '../../src/accounting/ledger/reader.js';
import type { UsageRecord } from '../../src/accounting/record.js';
import { traceOptionsFromEnv } from '../../src/telemetry/traces.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { CHAT, startObsGateway, type ObsGateway } from '../observability/helpers.js';

let up: Upstream;
let unsampled: ObsGateway;
let sampled: ObsGateway;
/** Samples nothing, but exports traces that capture message content. */
let capturing: ObsGateway;
let collector: http.Server;
/** Span attributes as the OTLP collector received them. */
const spans: Array<Record<string, unknown>> = [];
const dirs: string[] = [];

async function gateway(auditSampleRate: number, traces: ReturnType<typeof traceOptionsFromEnv> | false = false): Promise<ObsGateway> {
  const ledgerDir = await mkdtemp(join(tmpdir(), 'tollgate-stream-sampling-'));
  dirs.push(ledgerDir);
  return startObsGateway(
    {
      'b.yaml': backendYaml('b', [{ port: up.port }]),
      'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b' }] }]),
    },
    { ledgerDir, ledgerFsyncMs: 10, auditSampleRate, traces },
  );
}

interface OtlpBody {
  resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ attributes: Array<{ key: string; value: Record<string, unknown> }> }> }> }>;
}

beforeAll(async () => {
  up = await startUpstream();
  unsampled = await gateway(0);
  sampled = await gateway(1);
  collector = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as OtlpBody;
      for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) for (const sp of ss.spans) spans.push(Object.fromEntries(sp.attributes.map((a) => [a.key, Object.values(a.value)[0]])));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const traces = traceOptionsFromEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true',
  });
  capturing = await gateway(0, traces);
});

afterAll(async () => {
  await unsampled.close();
  await sampled.close();
  await capturing.close();
  await up.close();
  await new Promise<void>((r) => collector.close(() => r()));
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const chunk = (o: Record<string, unknown>): string => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'served', ...o })}\n\n`;
const content = (text: string): string => chunk({ choices: [{ index: 0, delta: { content: text }, finish_reason: null }], usage: null });
const WORDS = ['Tokens ', 'of ', 'a ', 'streamed ', 'answer, ', 'counted ', 'exactly.'];
const TEXT = WORDS.join('');
const CONTENT = WORDS.map(content).join('');
const FINISH = chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null });
// Written as some servers do: spaces around the colon.
const USAGE = `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"served","choices":[],"usage" : {"prompt_tokens":11,"completion_tokens":9,"total_tokens":20}}\n\n`;
const DONE = 'data: [DONE]\n\n';

// An event with no text: what an upstream goes on sending after the client left, until the gateway
// notices (on its next writes) and aborts it.
const EMPTY_DELTA = chunk({ choices: [{ index: 0, delta: {}, finish_reason: null }], usage: null });

/**
 * The upstream answers with `parts`, one write each, a few milliseconds apart (so separate reads);
 * then ends, or (`hold`) goes on with events without text until the gateway hangs up.
 */
function streamParts(parts: readonly string[], hold = false): void {
  up.behave((_q, _rec, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let i = 0;
    const next = (): void => {
      if (res.destroyed) return;
      if (i < parts.length) res.write(parts[i++]);
      else if (hold) res.write(EMPTY_DELTA);
      else {
        res.end();
        return;
      }
      setTimeout(next, hold && i === parts.length ? 20 : 2);
    };
    next();
  });
}

async function stream(gw: ObsGateway, requestId: string): Promise<string> {
  const r = await fetch(gw.url + CHAT, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(r.status).toBe(200);
  return r.text();
}

async function record(gw: ObsGateway, requestId: string): Promise<UsageRecord> {
  const dir = dirs[[unsampled, sampled, capturing].indexOf(gw)] as string;
  for (let i = 0; i < 200; i++) {
    await gw.settled();
    let found: UsageRecord | undefined;
    for await (const r of readLedger(dir)) if (r.requestId === requestId) found = r;
    if (found?.final === true) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no final ledger record for ${requestId}`);
}

/** The gateway's count of `text` in the encoding it counted the record with. */
async function counted(rec: UsageRecord, text: string): Promise<number> {
  const encoding = rec.gatewayCount?.encoding;
  expect(encoding).toBeDefined();
  return (await loadTokenizer(encoding as NonNullable<typeof encoding>)).count(text);
}

describe('a stream the drift audit did not sample', () => {
  it('is billed the backend usage exactly, wherever the TCP writes cut the usage event, and is not counted', async () => {
    const body = CONTENT + FINISH + USAGE + DONE;
    const from = body.indexOf(USAGE) - 1;
    for (const cut of [from, from + 1, from + 8, from + 20, body.indexOf('"usage"'), body.indexOf('"usage"') + 4, body.indexOf(' : {') + 2, from + USAGE.length - 1, from + USAGE.length + 1]) {
      streamParts([body.slice(0, cut), body.slice(cut)]);
      const id = `unsampled-${cut}`;
      expect(await stream(unsampled, id), `cut at ${cut}`).toBe(CONTENT + FINISH + DONE);
      const rec = await record(unsampled, id);
      expect(rec.usageSource, `cut at ${cut}`).toBe('backend');
      expect(rec.usage, `cut at ${cut}`).toMatchObject({ input: 11, output: 9, total: 20 });
      expect(rec.gatewayCount, `cut at ${cut}`).toBeUndefined();
      expect(rec.responseModel).toBe('served');
    }
  });

  it('every event in its own write and the usage event cut in three: still found', async () => {
    const u = USAGE.length;
    streamParts([...WORDS.map(content), FINISH, USAGE.slice(0, u / 3), USAGE.slice(u / 3, (2 * u) / 3), USAGE.slice((2 * u) / 3), DONE]);
    expect(await stream(unsampled, 'unsampled-thirds')).toBe(CONTENT + FINISH + DONE);
    expect((await record(unsampled, 'unsampled-thirds')).usage).toMatchObject({ input: 11, output: 9 });
  });

  it('a text that quotes a usage member is relayed and does not count as usage', async () => {
    const quoting = content('{"usage": {"prompt_tokens": 1}}');
    streamParts([CONTENT, quoting, FINISH, USAGE, DONE]);
    expect(await stream(unsampled, 'unsampled-quoting')).toBe(CONTENT + quoting + FINISH + DONE);
    expect((await record(unsampled, 'unsampled-quoting')).usage).toMatchObject({ input: 11, output: 9 });
  });
});

describe('an unsampled stream cut anywhere, against a sampled one', () => {
  // Whole plain events are read in place and forwarded as they came only when the stream is not
  // sampled; a sampled stream takes the decoder for every chunk. Both must relay the same bytes
  // and bill the same usage, however the upstream's writes cut the stream, with CRLF line ends and
  // heartbeat comments among the events.
  it('relays the same bytes and bills the same usage', async () => {
    const plain = CONTENT + FINISH + USAGE + DONE;
    const withComment = CONTENT + ': ping\n\n' + FINISH + USAGE + DONE;
    let seed = 7;
    const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    for (const [name, body] of [['lf', plain], ['comment', withComment], ['crlf', plain.replaceAll('\n', '\r\n')]] as const) {
      const usage = name === 'crlf' ? USAGE.replaceAll('\n', '\r\n') : USAGE;
      for (let round = 0; round < 3; round++) {
        // One write an event (what backends do), then random cuts.
        const events = body.split(name === 'crlf' ? /(?<=\r\n\r\n)/ : /(?<=\n\n)/);
        const cuts = [...new Set(Array.from({ length: 1 + rnd(6) }, () => 1 + rnd(body.length - 1)))].sort((a, b) => a - b);
        const parts = round === 0 ? events : [0, ...cuts].map((c, i, all) => body.slice(c, all[i + 1]));
        const id = `cut-${name}-${round}`;
        streamParts(parts);
        const fast = await stream(unsampled, `${id}-unsampled`);
        streamParts(parts);
        const reference = await stream(sampled, `${id}-sampled`);
        expect(fast, id).toBe(body.replace(usage, ''));
        expect(fast, id).toBe(reference);
        const a = await record(unsampled, `${id}-unsampled`);
        const b = await record(sampled, `${id}-sampled`);
        expect(a.usageSource, id).toBe('backend');
        expect(a.usage, id).toEqual(b.usage);
        expect(a.usage, id).toMatchObject({ input: 11, output: 9, total: 20 });
        expect(a.responseModel, id).toBe('served');
      }
    }
  });
});

describe('the end of a stream the drift audit did not sample', () => {
  it('without [DONE] but with a finish_reason: complete, billed the backend usage', async () => {
    streamParts([CONTENT, FINISH, USAGE]);
    expect(await stream(unsampled, 'no-done')).toBe(CONTENT + FINISH);
    const rec = await record(unsampled, 'no-done');
    expect(rec.aborted).toBe(false);
    expect(rec.usage).toMatchObject({ input: 11, output: 9 });
  });

  it('with neither [DONE] nor a finish_reason: the error event, and the gateway count of what was sent', async () => {
    streamParts([CONTENT]);
    const text = await stream(unsampled, 'cut-short');
    expect(text.startsWith(CONTENT)).toBe(true);
    expect(text.slice(CONTENT.length)).toMatch(/^data: \{"error":\{"message":"The backend stream failed after it started \(the stream ended before its last event/);
    const rec = await record(unsampled, 'cut-short');
    expect(rec.errorCode).toBe('upstream_protocol_error');
    expect(rec.aborted).toBe(true);
    expect(rec.usageSource).toBe('gateway');
    expect(rec.usage.output).toBe(await counted(rec, TEXT));
  });
});

describe('a stream the drift audit sampled', () => {
  it('is billed the backend usage and counted by the gateway from the text the client received', async () => {
    streamParts([CONTENT, FINISH + USAGE, DONE]);
    expect(await stream(sampled, 'sampled')).toBe(CONTENT + FINISH + DONE);
    const rec = await record(sampled, 'sampled');
    expect(rec.usageSource).toBe('backend');
    expect(rec.usage).toMatchObject({ input: 11, output: 9 });
    expect(rec.gatewayCount?.output).toBe(await counted(rec, TEXT));
    expect(rec.gatewayCount?.input).toBeGreaterThan(0);
  });
});

describe('a stream that ends without the backend usage, not sampled', () => {
  it('is billed the gateway count of its whole text', async () => {
    streamParts([CONTENT, FINISH + DONE]);
    expect(await stream(unsampled, 'no-usage')).toBe(CONTENT + FINISH + DONE);
    const rec = await record(unsampled, 'no-usage');
    expect(rec.usageSource).toBe('gateway');
    expect(rec.usage.output).toBe(await counted(rec, TEXT));
  });

  it('a client that leaves mid-answer: billed the gateway count of the text it was sent', async () => {
    streamParts([CONTENT], true);
    const ac = new AbortController();
    const r = await fetch(unsampled.url + CHAT, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'left' },
      body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      signal: ac.signal,
    });
    const reader = (r.body as ReadableStream<Uint8Array>).getReader();
    let got = '';
    while (got.length < CONTENT.length) got += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    const rec = await record(unsampled, 'left');
    expect(rec.aborted).toBe(true);
    expect(rec.usageSource).toBe('gateway');
    expect(rec.usage.output).toBe(await counted(rec, TEXT));
  });

  it('a long stream (past the bound on what is kept unread): billed the gateway count of its whole text', async () => {
    // Every event different from the one before, so the kept events pass their bound early.
    const words = Array.from({ length: 2_000 }, (_, i) => `w${(i * 7919).toString(36)}x${i} `);
    const events = words.map(content);
    streamParts([events.slice(0, 700).join(''), events.slice(700).join(''), FINISH + DONE]);
    const text = await stream(unsampled, 'long');
    expect(text).toBe(events.join('') + FINISH + DONE);
    const rec = await record(unsampled, 'long');
    expect(rec.usageSource).toBe('gateway');
    expect(rec.usage.output).toBe(await counted(rec, words.join('')));
  });

  it('a long stream with usage at its end: billed the backend usage', async () => {
    const events = Array.from({ length: 2_000 }, (_, i) => content(`v${i} `));
    streamParts([events.join(''), FINISH, USAGE, DONE]);
    expect(await stream(unsampled, 'long-usage')).toBe(events.join('') + FINISH + DONE);
    const rec = await record(unsampled, 'long-usage');
    expect(rec.usageSource).toBe('backend');
    expect(rec.usage).toMatchObject({ input: 11, output: 9 });
  });
});

describe('a stream not sampled, through a gateway whose traces capture message content', () => {
  it('is billed the backend usage, and its span carries the text the client received', async () => {
    streamParts([CONTENT, FINISH + USAGE, DONE]);
    expect(await stream(capturing, 'captured')).toBe(CONTENT + FINISH + DONE);
    const rec = await record(capturing, 'captured');
    expect(rec.usage).toMatchObject({ input: 11, output: 9 });
    expect(rec.gatewayCount).toBeUndefined();
    let span: Record<string, unknown> | undefined;
    for (let i = 0; i < 200 && span === undefined; i++) {
      span = spans.find((a) => a['tollgate.request_id'] === 'captured');
      if (span === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    expect(String(span?.['gen_ai.output.messages'])).toContain(TEXT);
  });
});
