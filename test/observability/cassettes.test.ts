// Real recorded OpenAI exchanges (Envoy AI Gateway's go-vcr cassettes: streamed and not, tools,
// reasoning, cached tokens, completions, embeddings, errors), replayed by the simulator behind the
// gateway. The usage the gateway accounts must be what each recorded response reports; a recorded
// stream without any usage is counted by the gateway itself and flagged as such.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from '../../src/accounting/ledger/reader.js';
import type { UsageRecord } from '../../src/accounting/record.js';
import { usageFrom } from '../../src/providers/openai/response.js';
import { loadCassettes, resolveProfile, startReplayServer, type Interaction, type ReplayServer } from '../../src/sim/index.js';
import { encodingForModel, loadTokenizer } from '../../src/tokenizer/index.js';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { sseEvents, startObsGateway, type ObsGateway } from './helpers.js';

const CASSETTES = fileURLToPath(new URL('../fixtures/compat/envoy-ai-gateway/tests/internal/testopenai/cassettes', import.meta.url));
const PATHS = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings']);

let interactions: Interaction[];
const servers: ReplayServer[] = [];
let gw: ObsGateway;
let ledgerDir: string;

const nameOf = (it: Interaction): string => (it.source.split('/').pop() ?? it.source).replace(/\.yaml$/, '');

/** The usage a recorded response reports: the JSON body's, or the last SSE event carrying one. */
function recordedUsage(body: string): ReturnType<typeof usageFrom> {
  const trimmed = body.trimStart();
  if (trimmed.startsWith('{')) return usageFrom((JSON.parse(trimmed) as { usage?: unknown }).usage);
  let u: ReturnType<typeof usageFrom>;
  for (const e of sseEvents(body)) u = usageFrom(e['usage']) ?? u;
  return u;
}

beforeAll(async () => {
  interactions = (await loadCassettes([CASSETTES])).filter((i) => PATHS.has(new URL(i.request.url).pathname));
  const profile = await resolveProfile('fast');
  ledgerDir = await mkdtemp(join(tmpdir(), 'tollgate-cassettes-'));
  // One replay server per cassette, each its own backend, chosen by a header: the gateway adds
  // stream_options to streams that lack it, so body matching alone could pick another recording.
  const manifests: Record<string, string> = {};
  const rules = [];
  for (const it of interactions) {
    const name = nameOf(it);
    const s = await startReplayServer({ interactions: [it], timing: 'none', profile });
    servers.push(s);
    manifests[`${name}.yaml`] = backendYaml(name, [{ port: s.port }]);
    rules.push({ matches: [{ 'x-cassette': name }], backends: [{ name }] });
  }
  manifests['route.yaml'] = routeYaml('replay', rules);
  gw = await startObsGateway(manifests, { ledgerDir });
}, 60_000);

afterAll(async () => {
  await gw.close();
  await Promise.all(servers.map((s) => s.close()));
  await rm(ledgerDir, { recursive: true, force: true });
});

describe('recorded OpenAI exchanges', () => {
  it('accounts every recorded response exactly as it reports its usage', async () => {
    const received = new Map<string, { status: number; text: string }>();
    for (const it of interactions) {
      const name = nameOf(it);
      const r = await fetch(gw.url + new URL(it.request.url).pathname, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-cassette': name, 'x-request-id': `cassette-${name}` },
        body: it.request.body,
      });
      received.set(name, { status: r.status, text: await r.text() });
    }
    await gw.settled();
    const recs = new Map<string, UsageRecord>();
    for await (const r of readLedger(ledgerDir)) recs.set(r.requestId.replace(/^cassette-/, ''), r);
    expect(recs.size).toBe(interactions.length);

    let withUsage = 0;
    let counted = 0;
    for (const it of interactions) {
      const name = nameOf(it);
      const rec = recs.get(name) as UsageRecord;
      const got = received.get(name) as { status: number; text: string };
      expect(got.status, name).toBe(it.response.code);
      expect(rec.status, name).toBe(it.response.code);
      if (it.response.code !== 200) {
        expect(rec.usageSource, name).toBe('none');
        expect(rec.usage.total, name).toBe(0);
        continue;
      }
      const want = recordedUsage(it.response.body);
      if (want !== undefined) {
        withUsage++;
        // Every field the recording has: prompt, cached prompt, completion, reasoning tokens.
        expect(rec.usageSource, name).toBe('backend');
        expect(rec.usage, name).toEqual(want);
        expect(rec.backendUsage, name).toEqual(want);
        // The client was told the same (streams whose client asked; every non-streamed answer).
        expect(recordedUsage(got.text), name).toEqual(want);
      } else {
        // A recorded stream with no usage at all: the gateway's count stands, flagged as such.
        counted++;
        const tok = await loadTokenizer(encodingForModel(rec.requestModel));
        const text = sseEvents(got.text)
          .flatMap((e) => (e['choices'] as Array<{ delta?: { content?: unknown }; text?: unknown }>).map((c) => (typeof c.delta?.content === 'string' ? c.delta.content : typeof c.text === 'string' ? c.text : '')))
          .join('');
        expect(rec.usageSource, name).toBe('gateway');
        expect(rec.usage.output, name).toBe(tok.count(text));
        expect(rec.usage.input, name).toBeGreaterThan(0);
      }
      expect(rec.responseModel, name).not.toBe('');
    }
    // The set really covers the shapes: usage in JSON and in SSE, reasoning tokens, and no usage.
    // (No recording has a cache hit; cached tokens are covered in accounting.test.ts.)
    expect(withUsage).toBeGreaterThanOrEqual(25);
    expect(counted).toBeGreaterThanOrEqual(2);
    const all = [...recs.values()];
    expect(all.some((r) => r.usage.reasoning > 0)).toBe(true);
    expect(all.some((r) => r.stream && r.usageSource === 'backend')).toBe(true);
    expect(all.some((r) => r.operation === 'embeddings' && r.usage.input > 0)).toBe(true);
  });
});
