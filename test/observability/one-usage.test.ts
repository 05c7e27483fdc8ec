// One request has one usage: the backend's report when it arrived (also a partial one, for a stream
// the client abandoned), else the gateway's count of what passed. The ledger records it, and the
// rate limiter charges exactly it (seen as the budget the next request is told remains). An aborted
// response is marked aborted.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from '../../src/accounting/ledger/reader.js';
import type { UsageRecord } from '../../src/accounting/record.js';
import { backendYaml } from '../helpers/gateway.js';
import { btpYaml, chat, costRouteYaml, TOKEN_COST } from '../helpers/limits.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { CHAT, startObsGateway, type ObsGateway } from './helpers.js';

const BUDGET = 10_000_000;
let up: Upstream;
let gw: ObsGateway;
let ledgerDir: string;

beforeAll(async () => {
  up = await startUpstream();
  ledgerDir = await mkdtemp(join(tmpdir(), 'tollgate-one-usage-'));
  gw = await startObsGateway(
    {
      'b.yaml': backendYaml('b', [{ port: up.port }]),
      'r.yaml': costRouteYaml('r', 'm', [{ name: 'b' }]),
      'p.yaml': btpYaml('tokens', 'r', 'Local', [{ requests: BUDGET, unit: 'Hour', cost: TOKEN_COST('llm_total_token') }]),
    },
    { ledgerDir, ledgerFsyncMs: 10 },
  );
});

afterAll(async () => {
  await gw.close();
  await up.close();
  await rm(ledgerDir, { recursive: true, force: true });
});

async function ledgerRecord(requestId: string): Promise<UsageRecord | undefined> {
  let found: UsageRecord | undefined;
  for await (const r of readLedger(ledgerDir)) if (r.requestId === requestId) found = r;
  return found;
}

/** The budget left as the gateway tells the next request (before that request is charged). */
async function remaining(): Promise<number> {
  up.behave((_q, _rec, res) => {
    const body = JSON.stringify({ id: 'x', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const r = await chat(gw.url, 'm');
  expect(r.status).toBe(200);
  await gw.settled();
  return Number(r.headers.get('x-ratelimit-remaining-tokens'));
}

/** A slow stream of `chunks` events; `usage(i)` is attached to event i when it returns one. */
function slowStream(usage: (i: number) => Record<string, number> | undefined): void {
  up.behave((_req, _rec, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let i = 0;
    const tick = (): void => {
      if (res.destroyed || i >= 500) return;
      const u = usage(i);
      res.write(`data: ${JSON.stringify({ id: 'z', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { content: ` word${i}` } }], ...(u === undefined ? {} : { usage: u }) })}\n\n`);
      i++;
      setTimeout(tick, 10);
    };
    tick();
  });
}

/** Starts a stream, reads `events` events, then abandons it. */
async function abandonAfter(requestId: string, events: number, body: Record<string, unknown>): Promise<void> {
  const ac = new AbortController();
  const r = await fetch(gw.url + CHAT, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ model: 'm', stream: true, ...body }),
    signal: ac.signal,
  });
  expect(r.status).toBe(200);
  const reader = (r.body as ReadableStream<Uint8Array>).getReader();
  let got = '';
  while ((got.match(/data:/g) ?? []).length < events) got += new TextDecoder().decode((await reader.read()).value);
  ac.abort();
}

async function settledRecord(requestId: string): Promise<UsageRecord> {
  for (let i = 0; i < 200; i++) {
    await gw.settled();
    const rec = await ledgerRecord(requestId);
    if (rec?.final === true) return rec;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no final ledger record for ${requestId}`);
}

describe('one usage per request', () => {
  it('an abandoned stream with partial backend usage: the ledger and the limiter both take the backend report', async () => {
    const before = await remaining();
    slowStream((i) => ({ prompt_tokens: 410, completion_tokens: i + 1, total_tokens: 411 + i }));
    await abandonAfter('one-usage-partial', 4, { messages: [{ role: 'user', content: 'hello there' }] });
    const rec = await settledRecord('one-usage-partial');
    expect(rec.aborted).toBe(true);
    expect(rec.usageSource).toBe('backend');
    expect(rec.usage.input).toBe(410);
    expect(rec.backendUsage?.total).toBe(rec.usage.total);
    // The next request is told the budget minus the probe's own 2 tokens and exactly this usage.
    expect(await remaining()).toBe(before - 2 - rec.usage.total);
  });

  it('an abandoned stream without usage: the limiter charges the gateway count the ledger records', async () => {
    const before = await remaining();
    slowStream(() => undefined);
    const words = Array.from({ length: 3_000 }, (_, i) => `distinct${i}token`).join(' ');
    await abandonAfter('one-usage-counted', 4, { messages: [{ role: 'user', content: words }] });
    const rec = await settledRecord('one-usage-counted');
    expect(rec.aborted).toBe(true);
    expect(rec.usageSource).toBe('gateway');
    expect(rec.backendUsage).toBeUndefined();
    expect(rec.usage.input).toBeGreaterThan(3_000);
    expect(rec.usage.output).toBeGreaterThanOrEqual(4);
    expect(await remaining()).toBe(before - 2 - rec.usage.total);
  });

  it('a complete response is not marked aborted', async () => {
    await remaining();
    const probe = await chat(gw.url, 'm', { 'x-request-id': 'one-usage-complete' });
    expect(probe.status).toBe(200);
    const rec = await settledRecord('one-usage-complete');
    expect(rec.aborted).toBe(false);
    expect(rec.usageSource).toBe('backend');
  });
});

describe('a prompt past the size the gateway counts', () => {
  it('is charged its estimate at once, the same in the ledger and the limiter', async () => {
    const before = await remaining();
    up.behave((_q, _rec, res) => {
      // No usage from the backend: the estimate is the usage.
      const body = JSON.stringify({ id: 'h', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    const content = 'word '.repeat(900_000); // 4,500,000 characters, past the 4 Mi counted exactly
    const r = await fetch(gw.url + CHAT, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'one-usage-huge' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content }] }),
    });
    expect(r.status).toBe(200);
    await r.text();
    const rec = await settledRecord('one-usage-huge');
    expect(rec.usageSource).toBe('estimate');
    expect(rec.gatewayCount).toBeUndefined();
    // 3 tokens frame the message and 3 prime the reply; "user" and the content at 4 characters a token.
    expect(rec.usage.input).toBe(6 + Math.ceil((4 + content.length) / 4));
    expect(await remaining()).toBe(before - 2 - rec.usage.total);
  });
});

describe('a long response', () => {
  it('is counted in full while only a bounded part of its text is kept', async () => {
    const piece = 'lorem ipsum dolor sit amet '.repeat(400); // 10,800 characters per event
    up.behave((_q, _rec, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < 100; i++) res.write(`data: ${JSON.stringify({ id: 'l', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { content: piece } }] })}\n\n`);
      res.write(`data: ${JSON.stringify({ id: 'l', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
    // The upstream sends no usage, so the gateway's count is the usage.
    const r = await fetch(gw.url + CHAT, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'one-usage-long' },
      body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'write a lot' }] }),
    });
    expect((await r.text()).length).toBeGreaterThan(1_000_000);
    const rec = await settledRecord('one-usage-long');
    expect(rec.usageSource).toBe('gateway');
    // 1,080,000 characters: the kept 256 Ki counted exactly (≈ 5 characters per token for this text),
    // the rest at 4 per token; either way far more than the kept part alone would give.
    expect(rec.usage.output).toBeGreaterThan(200_000);
    expect(rec.usage.output).toBeLessThan(300_000);
  });
});

describe('the ledger recipe in docs/observability.md', () => {
  it('counts every request once, also one whose count never finished', async () => {
    const { execFileSync } = await import('node:child_process');
    const { appendFile, readdir, readFile } = await import('node:fs/promises');
    await gw.settled();
    const doc = await readFile(new URL('../../docs/observability.md', import.meta.url), 'utf8');
    const recipe = /^jq -s '([^']+)' DIR\/usage-\*\.jsonl\s+# one record per request$/m.exec(doc)?.[1];
    expect(recipe).toBeDefined();
    const files = (await readdir(ledgerDir)).filter((f) => f.endsWith('.jsonl')).sort();
    // A record the process died before counting: only its first, non-final line exists.
    await appendFile(join(ledgerDir, files.at(-1) as string), `${JSON.stringify({ v: 1, key: 'crashed-1', final: false, request_id: 'crashed' })}\n`);
    const keys = new Set<string>();
    for (const f of files) for (const line of (await readFile(join(ledgerDir, f), 'utf8')).split('\n')) if (line !== '') keys.add((JSON.parse(line) as { key: string }).key);
    const out = execFileSync('jq', ['-s', `${recipe as string} | length`, ...files.map((f) => join(ledgerDir, f))], { encoding: 'utf8' });
    expect(Number(out.trim())).toBe(keys.size);
    const finals = execFileSync('jq', ['-s', 'group_by(.key) | map(last) | map(select(.key == "crashed-1")) | length', ...files.map((f) => join(ledgerDir, f))], { encoding: 'utf8' });
    expect(Number(finals.trim())).toBe(1);
  });
});
