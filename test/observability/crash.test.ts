// The ledger loses nothing: a real `tollgate serve` process with --ledger under concurrent load is
// killed with SIGKILL; every request whose response the clients received in full must be in the
// ledger, billed exactly the usage the client was told, after a restart on the same directory.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger, type LedgerProblem } from '../../src/accounting/ledger/reader.js';
import type { UsageRecord } from '../../src/accounting/record.js';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { spawnCli, type RunningCli } from '../helpers/cli.js';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { sseEvents } from './helpers.js';

let sim: SimServerHandle;
let work: string;

beforeAll(async () => {
  sim = await startSimServer({ profile: 'fast', model: 'gpt-4o-mini', seed: 3 });
  work = await mkdtemp(join(tmpdir(), 'tollgate-crash-'));
  await writeFile(join(work, 'b.yaml'), backendYaml('sim', [{ port: sim.port }]));
  await writeFile(join(work, 'r.yaml'), routeYaml('r', [{ backends: [{ name: 'sim' }] }]));
});

afterAll(async () => {
  await sim.close();
  await rm(work, { recursive: true, force: true });
});

async function serve(): Promise<{ cli: RunningCli; url: string }> {
  const cli = spawnCli(['serve', '--config', join(work, 'b.yaml'), '--config', join(work, 'r.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ledger', join(work, 'ledger'), '--no-watch', '--concurrency', '2']);
  const m = await cli.waitFor(/"msg":"tollgate serving".*"listen":"127\.0\.0\.1:(\d+)"/);
  return { cli, url: `http://127.0.0.1:${m[1] ?? ''}` };
}

interface Done {
  readonly input: number;
  readonly output: number;
}

/** One client request; resolves with the usage the client was told, or undefined if it did not complete. */
async function request(url: string, id: string, stream: boolean): Promise<Done | undefined> {
  try {
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': id },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `request ${id}: tell me about ledgers` }],
        max_tokens: 4 + (id.length % 7),
        ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
      }),
    });
    const text = await r.text();
    if (r.status !== 200) return undefined;
    if (stream) {
      if (!text.trimEnd().endsWith('data: [DONE]')) return undefined;
      const u = sseEvents(text).find((e) => e['usage'] != null)?.['usage'] as { prompt_tokens: number; completion_tokens: number } | undefined;
      return u === undefined ? undefined : { input: u.prompt_tokens, output: u.completion_tokens };
    }
    const u = (JSON.parse(text) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    return { input: u.prompt_tokens, output: u.completion_tokens };
  } catch {
    return undefined; // the gateway died mid-request: not a completed response
  }
}

describe('usage ledger under kill -9', () => {
  it('holds every request whose response completed before the kill, after a restart', async () => {
    const first = await serve();
    const completed = new Map<string, Done>();
    let stop = false;
    const loops = Array.from({ length: 12 }, async (_, loop) => {
      for (let n = 0; !stop; n++) {
        const id = `crash-${loop}-${n}`;
        const done = await request(first.url, id, (loop + n) % 2 === 0);
        if (done !== undefined) completed.set(id, done);
        else if (stop) return;
      }
    });
    // Kill once a good amount of traffic has completed, while requests are in flight.
    while (completed.size < 300) await new Promise((r) => setTimeout(r, 20));
    first.cli.child.kill('SIGKILL');
    await first.cli.exited();
    stop = true;
    await Promise.all(loops);
    expect(completed.size).toBeGreaterThanOrEqual(300);

    // Restart on the same ledger directory and serve a little more, then stop cleanly.
    const second = await serve();
    for (let i = 0; i < 5; i++) {
      const done = await request(second.url, `after-${i}`, i % 2 === 0);
      expect(done).toBeDefined();
      completed.set(`after-${i}`, done as Done);
    }
    second.cli.child.kill('SIGTERM');
    expect(await second.cli.exited()).toBe(0);

    const byId = new Map<string, UsageRecord>();
    const problems: LedgerProblem[] = [];
    const files: string[] = [];
    for await (const r of readLedger(join(work, 'ledger'), { problems, files })) byId.set(r.requestId, r);
    expect(files.length).toBe(4); // one per worker (two) per start
    // At most a torn last line in the killed process's file; nothing else unreadable.
    expect(problems.filter((p) => !p.message.startsWith('torn last line'))).toEqual([]);
    const missing = [...completed.keys()].filter((id) => !byId.has(id));
    expect(missing).toEqual([]);
    for (const [id, told] of completed) {
      const rec = byId.get(id) as UsageRecord;
      expect(rec.usageSource, id).toBe('backend');
      expect({ input: rec.usage.input, output: rec.usage.output }, id).toEqual(told);
    }
  }, 90_000);
});
