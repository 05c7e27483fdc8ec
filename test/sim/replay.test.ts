// Replay of recorded exchanges: Envoy AI Gateway's go-vcr cassettes (real OpenAI responses) and
// recordings made with the --record proxy, parsed by the official SDK.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BUILTIN_PROFILES, loadCassettes, startRecordProxy, startReplayServer, startSimServer, type Interaction, type ReplayServer } from '../../src/sim/index.js';
import { parseGoDuration } from '../../src/sim/replay/cassette.js';

const CASSETTES = join(import.meta.dirname, '../fixtures/compat/envoy-ai-gateway/tests/internal/testopenai/cassettes');
const fast = BUILTIN_PROFILES['fast']!;

let all: Interaction[];
let replay: ReplayServer;

beforeAll(async () => {
  all = await loadCassettes([CASSETTES]);
  replay = await startReplayServer({ interactions: all, timing: 'none', profile: fast });
});
afterAll(async () => {
  await replay.close();
});

test('Go durations parse', () => {
  expect(parseGoDuration('6.709506291s')).toBeCloseTo(6709.506291, 6);
  expect(parseGoDuration('339.474084ms')).toBeCloseTo(339.474084, 6);
  expect(parseGoDuration('1m2.5s')).toBe(62_500);
  expect(() => parseGoDuration('soon')).toThrow(/not a duration/);
});

describe('the Envoy AI Gateway cassettes', () => {
  test('all load', () => {
    expect(all.length).toBeGreaterThanOrEqual(43);
    expect(all.every((i) => i.response.code >= 200)).toBe(true);
  });

  test('streamed chat replays byte for byte and the SDK parses it', async () => {
    const c = new OpenAI({ apiKey: 'x', baseURL: `${replay.url}/v1`, maxRetries: 0 });
    const s = await c.chat.completions.create({ model: 'gpt-5-nano', messages: [{ role: 'user', content: 'Hello!' }], stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const ch of s) {
      text += ch.choices[0]?.delta.content ?? '';
      finish = ch.choices[0]?.finish_reason ?? finish;
    }
    const rec = all.find((i) => i.source.endsWith('chat-streaming.yaml'))!;
    const recorded = rec.response.body
      .split('\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => (JSON.parse(l.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
      .join('');
    expect(text).toBe(recorded);
    expect(text).toMatch(/^Hi there! How can I help today\?/);
    expect(finish).toBe('stop');
  });

  test('errors replay with their status; unknown requests are a 404 naming what was recorded', async () => {
    const c = new OpenAI({ apiKey: 'x', baseURL: `${replay.url}/v1`, maxRetries: 0 });
    await expect(c.chat.completions.create({ model: 'gpt-4.1-nano-wrong', messages: [{ role: 'user', content: 'Hello!' }] })).rejects.toMatchObject({ status: 404 });
    const r = await fetch(`${replay.url}/v1/nothing`, { method: 'POST', body: '{}' });
    expect(r.status).toBe(404);
    expect(await r.text()).toMatch(/No recorded exchange for POST \/v1\/nothing/);
  });

  test('embeddings and completions replay through the SDK', async () => {
    const c = new OpenAI({ apiKey: 'x', baseURL: `${replay.url}/v1`, maxRetries: 0 });
    const e = await c.embeddings.create({ model: 'text-embedding-3-small', input: 'How do I reset my password?', encoding_format: 'base64' });
    expect(e.data.length).toBeGreaterThan(0);
    const k = all.find((i) => i.source.endsWith('completion-streaming-usage.yaml'))!;
    const s = await c.completions.create({ ...(JSON.parse(k.request.body) as { model: string; prompt: string }), stream: true });
    let usage = 0;
    for await (const ch of s) if (ch.usage) usage = ch.usage.completion_tokens;
    expect(usage).toBe(25);
  });
});

describe('record, then replay with the original pacing', () => {
  test('a recording of the simulator replays the same body, chunk timing kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-rec-'));
    const upstream = await startSimServer({ profile: 'fast', apiKey: 'secret-upstream-key' });
    const written: string[] = [];
    const proxy = await startRecordProxy({ upstream: upstream.url, dir, onRecorded: (f) => written.push(f) });
    try {
      const c = new OpenAI({ apiKey: 'secret-upstream-key', baseURL: `${proxy.url}/v1`, maxRetries: 0 });
      const s = await c.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: 'record me' }], stream: true, max_tokens: 8 });
      let live = '';
      for await (const ch of s) live += ch.choices[0]?.delta.content ?? '';
      for (let i = 0; i < 100 && written.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await readdir(dir)).toHaveLength(1);
      const file = await readFile(written[0]!, 'utf8');
      expect(file).toContain('tollgate_chunk_offsets_ms');
      expect(file).not.toContain('secret-upstream-key');

      const rec = await loadCassettes([dir]);
      expect(rec[0]!.response.chunks!.length).toBeGreaterThan(1);
      const again = await startReplayServer({ interactions: rec, timing: 'original', profile: fast, apiKey: 'k2' });
      try {
        const c2 = new OpenAI({ apiKey: 'k2', baseURL: `${again.url}/v1`, maxRetries: 0 });
        const s2 = await c2.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: 'record me' }], stream: true, max_tokens: 8 });
        let replayed = '';
        for await (const ch of s2) replayed += ch.choices[0]?.delta.content ?? '';
        expect(replayed).toBe(live);
        const denied = await fetch(`${again.url}/v1/chat/completions`, { method: 'POST', body: '{}' });
        expect(denied.status).toBe(401);
      } finally {
        await again.close();
      }
    } finally {
      await proxy.close();
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('profile timing paces a replay by the cost model', async () => {
    const it = all.find((i) => i.source.endsWith('chat-streaming.yaml'))!;
    const { schedule } = await import('../../src/sim/replay/server.js');
    const h100 = BUILTIN_PROFILES['h100x4-gpt-oss-120b']!;
    const pieces = schedule(it, 'profile', h100);
    expect(pieces.length).toBeGreaterThan(10);
    const gaps = pieces.slice(2).map((p, i) => p.atMs - pieces[i + 1]!.atMs);
    expect(Math.min(...gaps)).toBeCloseTo(Math.max(...gaps), 6);
    expect(gaps[0]).toBeGreaterThan(h100.cost.fixedMs);
    const original = schedule(it, 'original', h100);
    expect(original.at(-1)!.atMs).toBeCloseTo(it.response.durationMs, 6);
  });
});
