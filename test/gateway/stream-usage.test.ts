// The streamed path's reading of an OpenAI-compatible stream, over real sockets: the usage event is
// found wherever the upstream's TCP writes cut it (and hidden from a client that did not ask for it),
// a stream without usage is billed from the gateway's own count, a malformed event reaches the client
// as it was, and a stream cut before its end gets the error event. The forced usage option is added
// to the client's own bytes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from '../../src/accounting/ledger/reader.js';
import type { UsageRecord } from '../../src/accounting/record.js';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { CHAT, startObsGateway, type ObsGateway } from '../observability/helpers.js';

let up: Upstream;
let gw: ObsGateway;
let ledgerDir: string;

beforeAll(async () => {
  up = await startUpstream();
  ledgerDir = await mkdtemp(join(tmpdir(), 'tollgate-stream-usage-'));
  gw = await startObsGateway(
    {
      'b.yaml': backendYaml('b', [{ port: up.port }]),
      'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b' }] }]),
    },
    { ledgerDir, ledgerFsyncMs: 10 },
  );
});

afterAll(async () => {
  await gw.close();
  await up.close();
  await rm(ledgerDir, { recursive: true, force: true });
});

const chunk = (o: Record<string, unknown>): string => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'served', ...o })}\n\n`;
const CONTENT = [0, 1, 2].map((i) => chunk({ choices: [{ index: 0, delta: { content: `w${i} ` }, finish_reason: null }] })).join('');
const FINISH = chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
const USAGE = chunk({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } });
const DONE = 'data: [DONE]\n\n';

/** The upstream answers with `parts`, one write each, a few milliseconds apart (so separate reads). */
function streamParts(parts: readonly string[]): void {
  up.behave((_q, _rec, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let i = 0;
    const next = (): void => {
      if (res.destroyed) return;
      if (i === parts.length) {
        res.end();
        return;
      }
      res.write(parts[i++]);
      setTimeout(next, 2);
    };
    next();
  });
}

async function stream(requestId: string, extra: Record<string, unknown> = {}): Promise<{ status: number; text: string }> {
  const r = await fetch(gw.url + CHAT, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
  return { status: r.status, text: await r.text() };
}

async function record(requestId: string): Promise<UsageRecord> {
  for (let i = 0; i < 200; i++) {
    await gw.settled();
    let found: UsageRecord | undefined;
    for await (const r of readLedger(ledgerDir)) if (r.requestId === requestId) found = r;
    if (found?.final === true) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no final ledger record for ${requestId}`);
}

describe('the usage event of a stream', () => {
  it('is read and hidden wherever the TCP writes cut it', async () => {
    const body = CONTENT + FINISH + USAGE + DONE;
    const from = body.indexOf(USAGE) - 1;
    const to = from + USAGE.length + 2;
    for (let cut = from; cut <= to; cut++) {
      streamParts([body.slice(0, cut), body.slice(cut)]);
      const id = `split-${cut}`;
      const r = await stream(id);
      expect(r.status, `cut at ${cut}`).toBe(200);
      expect(r.text, `cut at ${cut}`).toBe(CONTENT + FINISH + DONE);
      const rec = await record(id);
      expect(rec.usageSource, `cut at ${cut}`).toBe('backend');
      expect(rec.usage, `cut at ${cut}`).toMatchObject({ input: 7, output: 3, total: 10 });
      expect(rec.responseModel).toBe('served');
    }
  });

  it('is passed through to a client that asked for it, byte for byte', async () => {
    const body = CONTENT + FINISH + USAGE + DONE;
    streamParts([body.slice(0, 100), body.slice(100, body.length - 30), body.slice(body.length - 30)]);
    const r = await stream('asked', { stream_options: { include_usage: true } });
    expect(r.text).toBe(body);
    expect((await record('asked')).usage).toMatchObject({ input: 7, output: 3 });
  });

  it('missing: the stream is relayed whole and billed from the gateway count', async () => {
    streamParts([CONTENT, FINISH + DONE]);
    const r = await stream('no-usage');
    expect(r.text).toBe(CONTENT + FINISH + DONE);
    const rec = await record('no-usage');
    expect(rec.usageSource).toBe('gateway');
    expect(rec.usage.output).toBeGreaterThan(0);
  });

  it('next to a malformed event: the client gets every event as sent, and the usage still counts', async () => {
    const bad = 'data: {"choices":[{"delta":{"content":"x"}\n\n';
    streamParts([CONTENT, bad, FINISH + USAGE, DONE]);
    const r = await stream('malformed');
    expect(r.text).toBe(CONTENT + bad + FINISH + DONE);
    expect((await record('malformed')).usage).toMatchObject({ input: 7, output: 3 });
  });

  it('a stream cut before its end gets the error event and is recorded as aborted', async () => {
    streamParts([CONTENT, USAGE.slice(0, 40)]);
    const r = await stream('cut');
    expect(r.status).toBe(200);
    expect(r.text.startsWith(CONTENT)).toBe(true);
    const last = r.text.slice(CONTENT.length);
    expect(last).toMatch(/^data: \{"error":\{"message":"The backend stream failed after it started \(the stream ended before its last event/);
    expect(last.endsWith('\n\n')).toBe(true);
    const rec = await record('cut');
    expect(rec.errorCode).toBe('upstream_protocol_error');
    expect(rec.aborted).toBe(true);
  });
});

describe('the usage option the gateway adds', () => {
  it('is appended to the client bytes, which otherwise reach the upstream unchanged', async () => {
    streamParts([CONTENT + FINISH + USAGE + DONE]);
    const client = '{\n  "model": "m",\n  "stream": true,\n  "messages": [{"role": "user", "content": "h\\u00e9"}]\n}\n';
    const r = await fetch(gw.url + CHAT, { method: 'POST', headers: { 'content-type': 'application/json' }, body: client });
    expect(await r.text()).toBe(CONTENT + FINISH + DONE);
    const sent = up.requests.at(-1);
    expect(sent?.json?.['stream_options']).toEqual({ include_usage: true });
    const close = client.lastIndexOf('}');
    expect(sent?.body).toBe(`${client.slice(0, close)},"stream_options":{"include_usage":true}${client.slice(close)}`);
  });

  it('is merged into stream_options the client sent without include_usage', async () => {
    streamParts([CONTENT + FINISH + USAGE + DONE]);
    const r = await stream('merged', { stream_options: { continuous_usage_stats: false } });
    expect(r.text).toBe(CONTENT + FINISH + DONE);
    expect(up.requests.at(-1)?.json?.['stream_options']).toEqual({ continuous_usage_stats: false, include_usage: true });
  });
});
