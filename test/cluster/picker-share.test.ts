// `serve --concurrency 2` in front of an InferencePool: the two workers' endpoint pickers share what
// they learn. Every request opens its own connection, so the primary hands a conversation's turns
// to whichever worker is next; a later turn still goes to the replica that holds its prefix (or its
// session), whichever worker placed the first one, and a worker restarted after a crash knows it
// too. Which worker served a request is read from the per-worker request counter of the admin
// /metrics; where it went, from the picker's debug header.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { poolYaml } from '../helpers/inference-pool.js';
import { metricValue } from '../helpers/limits.js';
import { chatFresh, startInstance, waitUntil, type Instance, type Reply } from './helpers.js';

const PROFILE = { extends: 'fast' };

interface Pick {
  readonly endpoint: string;
  readonly reason: string;
  readonly matched: number;
  readonly blocks: number;
  /** The worker that served it (index). */
  readonly worker: string;
}

function parsePick(r: Reply): Omit<Pick, 'worker'> {
  const h = String(r.headers['x-tollgate-endpoint-pick'] ?? '');
  const m = /endpoint=([^;]+); reason=([^;]+);.*prefix-blocks=(\d+)\/(\d+)/.exec(h);
  if (r.status !== 200 || m === null) throw new Error(`no pick (status ${r.status}): ${h} ${r.text.slice(0, 200)}`);
  return { endpoint: m[1]!, reason: m[2]!, matched: Number(m[3]), blocks: Number(m[4]) };
}

async function perWorker(inst: Instance): Promise<Map<string, number>> {
  const text = await inst.metrics();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^tollgate_worker_requests_total\{worker="(\d+)"\} (\S+)$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

/** One request on a connection of its own, done alone so the per-worker counters say who served it. */
async function send(inst: Instance, messages: unknown[], headers: Record<string, string> = {}): Promise<Pick> {
  const before = await perWorker(inst);
  const r = await chatFresh(inst.url, { model: 'sim-model', max_tokens: 2, messages }, headers);
  const pick = parsePick(r);
  let worker: string | undefined;
  await waitUntil(async () => {
    const after = await perWorker(inst);
    worker = [...after].find(([w, n]) => n > (before.get(w) ?? 0))?.[0];
    return worker !== undefined;
  }, 'the request to show in a worker request counter');
  return { ...pick, worker: worker! };
}

const shared = async (inst: Instance, kind: 'blocks' | 'sessions'): Promise<number> => metricValue(await inst.metrics(), 'tollgate_picker_shared_entries_total', { kind });

describe('endpoint pickers shared across two workers', { timeout: 120_000 }, () => {
  const sims: SimServerHandle[] = [];
  let inst: Instance;

  beforeAll(async () => {
    for (let i = 0; i < 4; i++) sims.push(await startSimServer({ profile: PROFILE as never, seed: i }));
    inst = await startInstance({ 'pool.yaml': poolYaml(sims.map((s) => s.port), { 'tollgate.io/session-header': 'x-session-id' }) });
  });

  afterAll(async () => {
    await inst?.stop();
    await Promise.all(sims.map((s) => s.close()));
  });

  it("a conversation's next turn goes to the replica holding its prefix, whichever worker takes it", async () => {
    // Distinct from the first byte, so no conversation's blocks are another's.
    const system = (i: number): string => `conversation ${i}: ${'You are a careful assistant who explains each step. '.repeat(40)}`;
    const firsts: Array<{ messages: unknown[]; pick: Pick }> = [];
    for (let i = 0; i < 4; i++) {
      const messages = [
        { role: 'system', content: system(i) },
        { role: 'user', content: `question ${i}: how do prefix caches work?` },
      ];
      firsts.push({ messages, pick: await send(inst, messages) });
    }
    for (const f of firsts) expect(f.pick.blocks).toBeGreaterThan(4);
    // Each worker learns the blocks of the turns the other one placed.
    const told = firsts.reduce((a, f) => a + f.pick.blocks, 0);
    await waitUntil(async () => (await shared(inst, 'blocks')) >= told, 'the workers to learn each other’s prefix blocks', 30_000);

    // Each next turn twice, on two connections in a row: the primary gives them to both workers.
    let crossed = 0;
    for (const [i, f] of firsts.entries()) {
      const messages = [...f.messages, { role: 'assistant', content: 'They reuse the KV cache of a shared prefix.' }, { role: 'user', content: 'And across replicas?' }];
      for (let k = 0; k < 2; k++) {
        const s = await send(inst, messages);
        expect({ conversation: i, endpoint: s.endpoint }).toEqual({ conversation: i, endpoint: f.pick.endpoint });
        // All but the first turn's last block, which may hold the bytes after its last message.
        expect(s.matched).toBeGreaterThanOrEqual(f.pick.blocks - 1);
        if (s.worker !== f.pick.worker) crossed++;
      }
    }
    // The point of the test: next turns the other worker took (at least one per conversation).
    expect(crossed).toBeGreaterThanOrEqual(4);
  });

  it('a session placed by one worker stays on its replica when the other worker takes its next request', async () => {
    const placed: Pick[] = [];
    for (let i = 0; i < 4; i++) placed.push(await send(inst, [{ role: 'user', content: `hello ${i}` }], { 'x-session-id': `s-${i}` }));
    await waitUntil(async () => (await shared(inst, 'sessions')) >= 4, 'the workers to learn each other’s sessions', 30_000);
    let crossed = 0;
    for (let i = 0; i < 4; i++) {
      for (let k = 0; k < 2; k++) {
        const n = await send(inst, [{ role: 'user', content: `something else entirely ${i}` }], { 'x-session-id': `s-${i}` });
        expect({ session: i, endpoint: n.endpoint, reason: n.reason }).toEqual({ session: i, endpoint: placed[i]!.endpoint, reason: 'session' });
        if (n.worker !== placed[i]!.worker) crossed++;
      }
    }
    expect(crossed).toBeGreaterThanOrEqual(4);
  });

  it('a worker that is killed is replaced by one that knows where the conversations are', async () => {
    const system = (i: number): string => `restart ${i}: ${'Answer briefly and cite the relevant file. '.repeat(40)}`;
    const firsts: Array<{ messages: unknown[]; pick: Pick }> = [];
    const learnedBefore = await shared(inst, 'blocks');
    for (let i = 0; i < 4; i++) {
      const messages = [
        { role: 'system', content: system(i) },
        { role: 'user', content: `task ${i}: find the bug` },
      ];
      firsts.push({ messages, pick: await send(inst, messages) });
    }
    const told = firsts.reduce((a, f) => a + f.pick.blocks, 0);
    await waitUntil(async () => (await shared(inst, 'blocks')) >= learnedBefore + told, 'the workers to learn each other’s prefix blocks', 30_000);

    // Read now, the dead worker's count stays in the totals (the primary keeps its last snapshot).
    const learnedAtKill = await shared(inst, 'blocks');
    const victim = (await inst.workers()).find((w) => w.worker === 0);
    expect(victim?.pid).toBeGreaterThan(0);
    process.kill(victim!.pid!, 'SIGKILL');
    await waitUntil(async () => {
      const w = (await inst.workers()).find((x) => x.worker === 0);
      return w?.pid != null && w.pid !== victim!.pid && (await fetch(`${inst.adminUrl}/readyz`)).status === 200;
    }, 'worker 0 to be replaced and serving', 30_000);
    // The replacement learns this test's conversations (placed before it started) from the batches
    // the primary kept.
    await waitUntil(async () => (await shared(inst, 'blocks')) >= learnedAtKill + told, 'the replacement to learn the recent prefix blocks', 30_000);

    let onReplacement = 0;
    for (const [i, f] of firsts.entries()) {
      const messages = [...f.messages, { role: 'assistant', content: 'Line 12 divides by zero.' }, { role: 'user', content: 'Fix it.' }];
      for (let k = 0; k < 2; k++) {
        const s = await send(inst, messages);
        expect({ conversation: i, endpoint: s.endpoint }).toEqual({ conversation: i, endpoint: f.pick.endpoint });
        if (s.worker === '0') onReplacement++;
      }
    }
    expect(onReplacement).toBeGreaterThanOrEqual(4);
  });
});
