// Fault injection over real sockets: what a gateway's failover, timeout and broken-stream handling
// will meet. No timing assertions: each fault is checked by what the client receives.
import { request } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { SseDecoder } from '../../src/protocol/sse.js';

let sim: SimServerHandle;

beforeAll(async () => {
  sim = await startSimServer({ profile: 'fast' });
});
afterAll(async () => {
  await sim.close();
});

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  error: string | undefined;
}

/** POST and collect whatever arrives, including a connection error mid-body. */
function raw(body: unknown, headers: Record<string, string>, timeoutMs = 10_000): Promise<Raw> {
  return new Promise((resolve) => {
    const u = new URL(`${sim.url}/v1/chat/completions`);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, error: undefined }));
      res.on('error', (e) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, error: (e as NodeJS.ErrnoException).code ?? e.message }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, error: 'aborted' }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, headers: {}, body: '', error: e.code ?? e.message }));
    req.setTimeout(timeoutMs, () => req.destroy(new Error('client timeout')));
    req.end(JSON.stringify(body));
  });
}

const chat = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'sim-model',
  messages: [{ role: 'user', content: 'hello' }],
  max_tokens: 10,
  ...extra,
});

function events(body: string): string[] {
  return new SseDecoder().push(Buffer.from(body)).map((e) => e.data);
}

describe('x-sim-fault', () => {
  test('status=503 answers an OpenAI-shaped error with retry-after', async () => {
    const r = await raw(chat(), { 'x-sim-fault': 'status=503' });
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 503, type: 'ServiceUnavailableError' } });
    const c = new OpenAI({ apiKey: 'x', baseURL: `${sim.url}/v1`, maxRetries: 0, defaultHeaders: { 'x-sim-fault': 'status=429' } });
    await expect(c.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 429 });
  });

  test('reset-after=N streams N tokens then resets the connection; reset-after=0 before any byte', async () => {
    const r = await raw(chat({ stream: true }), { 'x-sim-fault': 'reset-after=3' });
    expect(r.status).toBe(200);
    expect(r.error).toBeDefined();
    const data = events(r.body);
    expect(data.filter((d) => d.includes('"content":"') && !d.includes('"content":""'))).toHaveLength(3);
    expect(data).not.toContain('[DONE]');
    const early = await raw(chat(), { 'x-sim-fault': 'reset-after=0' });
    expect(early.status).toBe(0);
    expect(early.error).toMatch(/ECONNRESET|socket hang up/);
  });

  test('truncate-after=N ends the stream cleanly without finish_reason or [DONE]', async () => {
    const r = await raw(chat({ stream: true }), { 'x-sim-fault': 'truncate-after=4' });
    expect(r.error).toBeUndefined();
    const data = events(r.body);
    expect(data).not.toContain('[DONE]');
    expect(r.body).not.toContain('"finish_reason":"');
  });

  test('malformed-after=N sends one chunk that is not JSON, and the SDK reports it', async () => {
    const r = await raw(chat({ stream: true }), { 'x-sim-fault': 'malformed-after=2' });
    const bad = events(r.body).filter((d) => {
      if (d === '[DONE]') return false;
      try {
        JSON.parse(d);
        return false;
      } catch {
        return true;
      }
    });
    expect(bad).toHaveLength(1);
    const c = new OpenAI({ apiKey: 'x', baseURL: `${sim.url}/v1`, maxRetries: 0, defaultHeaders: { 'x-sim-fault': 'malformed-after=2' } });
    const consume = async (): Promise<void> => {
      const s = await c.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: 'x' }], stream: true, max_tokens: 5 });
      for await (const _ of s) {
        /* drain */
      }
    };
    await expect(consume()).rejects.toThrow();
  });

  test('stall-after and slow-first-byte hold output, then the response completes intact', async () => {
    const r = await raw(chat({ stream: true }), { 'x-sim-fault': 'stall-after=2:150, slow-first-byte=100' });
    expect(r.status).toBe(200);
    const data = events(r.body);
    expect(data.at(-1)).toBe('[DONE]');
    expect(data.filter((d) => d.includes('"content":"') && !d.includes('"content":""'))).toHaveLength(10);
    const plain = await raw(chat(), { 'x-sim-fault': 'stall-after=3:100' });
    expect(JSON.parse(plain.body)).toMatchObject({ usage: { completion_tokens: 10 } });
  });

  test('hang never answers; the client giving up aborts the request in the engine', async () => {
    await quiesce(0);
    const before = { inFlight: 0 };
    const r = await raw(chat(), { 'x-sim-fault': 'hang' }, 300);
    expect(r.error).toBeDefined();
    // A streamed request the client drops mid-way is aborted (vllm:request_success_total{finished_reason="abort"}).
    await quiesce(before.inFlight);
    const abortsBefore = await abortCount();
    const ac = new AbortController();
    const res = await fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sim-output-tokens': '100000' },
      body: JSON.stringify({ model: 'sim-model', messages: [{ role: 'user', content: 'go on forever' }], stream: true }),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    for (let i = 0; i < 200 && (await abortCount()) === abortsBefore; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await abortCount()).toBe(abortsBefore + 1);
    for (let i = 0; i < 200; i++) {
      const s = (await (await fetch(`${sim.url}/_sim/stats`)).json()) as { inFlight: number };
      if (s.inFlight === before.inFlight) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(((await (await fetch(`${sim.url}/_sim/stats`)).json()) as { inFlight: number }).inFlight).toBe(before.inFlight);
  });

  test('a bad fault spec is a 400 that lists the faults', async () => {
    const r = await raw(chat(), { 'x-sim-fault': 'explode=1' });
    expect(r.status).toBe(400);
    expect((JSON.parse(r.body) as { error: { message: string } }).error.message).toMatch(/unknown fault "explode".*status=CODE/);
  });
});

/** Wait until earlier tests' dropped connections have been noticed by the server. */
async function quiesce(inFlight: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const s = (await (await fetch(`${sim.url}/_sim/stats`)).json()) as { inFlight: number };
    if (s.inFlight <= inFlight) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function abortCount(): Promise<number> {
  const text = await (await fetch(`${sim.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('vllm:request_success_total{') && l.includes('finished_reason="abort"'))!;
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('rates and capacity', () => {
  test('--fault rates apply to every request, reproducibly from the seed', async () => {
    const s = await startSimServer({ profile: 'fast', faults: ['status=500@0.5'], seed: 3 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const r = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat()) });
        await r.arrayBuffer();
        statuses.push(r.status);
      }
      expect(statuses.filter((x) => x === 500).length).toBeGreaterThan(3);
      expect(statuses.filter((x) => x === 200).length).toBeGreaterThan(3);
    } finally {
      await s.close();
    }
  });

  test('a full waiting queue answers 503 like a server at capacity', async () => {
    const s = await startSimServer({
      profile: { extends: 'fast', scheduler: { maxNumSeqs: 1, maxNumBatchedTokens: 8192, longPrefillTokenThreshold: 0, maxWaiting: 1 }, cost: { fixedMs: 5, prefillTokenMs: 0, decodeSeqMs: 0, contextTokenMs: 0 } } as never,
    });
    try {
      const send = (): Promise<number> =>
        fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'x-sim-output-tokens': '20' }, body: JSON.stringify(chat({ max_tokens: 100 })) }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        });
      const statuses = await Promise.all([send(), send(), send(), send()]);
      expect(statuses.filter((x) => x === 503).length).toBeGreaterThan(0);
      expect(statuses.filter((x) => x === 200).length).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });
});
