// A gateway killed outright (SIGKILL, no shutdown) under load against a key's budget, restarted on the
// same --state-dir, twice: the money the backend was asked to spend never exceeds the budget. Spend
// reaches the durable journal lazily, so without the budget holds a restart would hand out again what
// was admitted in the last moments before the kill.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { chatWith, createKey, REQUEST_COST, serve, spent, workspace, type Served } from './helpers.js';

const BUDGET_REQUESTS = 60;
const CLIENTS = 8;
/** A hold reaches at most this many worst cases beyond what is reserved (HOLD_REQUESTS in src/keys/holds.ts). */
const HOLD_REQUESTS = 4;

let up: Upstream;
let dir: string;
let gw: Served | undefined;

beforeAll(async () => {
  const answer = openAIBehavior({ chunks: 5 });
  // Slow enough that requests are in flight, and spend settled but not yet journalled, at each kill.
  up = await startUpstream((req, rec, res, socket) => void setTimeout(() => answer(req, rec, res, socket), 40));
  dir = await workspace([up.port]);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await up.close();
  await rm(dir, { recursive: true, force: true });
});

function priced(): number {
  return up.requests.filter((r) => r.json?.['model'] === 'm').length;
}

function start(): Promise<Served> {
  return serve(dir, ['--state-dir', join(dir, 'state'), '--concurrency', '1']);
}

/** CLIENTS loops sending requests until `stop()` says so or the budget refuses them; counts the 200s. */
function load(url: string, key: string, stop: () => boolean): Promise<{ ok: number; refused: number }> {
  const tally = { ok: 0, refused: 0 };
  const client = async (): Promise<void> => {
    while (!stop()) {
      const r = await chatWith(url, key).catch(() => undefined);
      if (r === undefined) return; // the gateway is gone
      if (r.status === 200) tally.ok++;
      else if (r.json.error?.code === 'budget_exceeded') {
        tally.refused++;
        return;
      } else throw new Error(`unexpected answer ${r.status}: ${r.text}`);
    }
  };
  return Promise.all(Array.from({ length: CLIENTS }, client)).then(() => tally);
}

it('never lets a key spend past its budget across kill -9 and restart, and counts at most a hold more', async () => {
  gw = await start();
  const { id, key } = await createKey(gw.admin, { name: 'crashy', workload: 'ci', budgets: [{ amount: BUDGET_REQUESTS * REQUEST_COST, period: 'month' }] });
  await eventually(async () => (await chatWith(gw!.url, key, { model: 'nope' })).status !== 401, 'the key to be known');

  for (const killAt of [15, 35]) {
    const served = gw;
    const killed = load(served.url, key, () => false);
    await eventually(() => priced() >= killAt, `${killAt} requests to reach the backend`, 30_000);
    served.cli.child.kill('SIGKILL');
    await served.cli.exited();
    await killed;
    gw = await start();
  }
  const last = await load(gw.url, key, () => false);
  expect(last.refused).toBe(CLIENTS);

  // Every priced request the backend received was admitted, and each cost exactly REQUEST_COST
  // (the probe that waited for the key to be known asked for an unpriced model).
  const admitted = priced();
  expect(admitted).toBeLessThanOrEqual(BUDGET_REQUESTS);
  // What a crash may count as spent without being so: its process's hold and the requests in flight.
  expect(admitted).toBeGreaterThanOrEqual(BUDGET_REQUESTS - 2 * (HOLD_REQUESTS + CLIENTS));
  // The spend the admin API reports is what really completed, never more than the budget.
  expect(await spent(gw.admin, id)).toBeLessThanOrEqual(BUDGET_REQUESTS * REQUEST_COST + 1e-9);
}, 180_000);

it('takes a hold with one journal write per 1% of the budget, not one per request', async () => {
  const served = gw as Served;
  const { id, key } = await createKey(served.admin, { name: 'steady', workload: 'ci', budgets: [{ amount: 1000 * REQUEST_COST, period: 'month' }] });
  await eventually(async () => (await chatWith(served.url, key, { model: 'nope' })).status !== 401, 'the key to be known');
  const requests = 40;
  for (let i = 0; i < requests; i++) expect((await chatWith(served.url, key)).status).toBe(200);
  // This process's journal (docs/state.md): one line per write, each a list of [subject, window, micros].
  const spendDir = join(dir, 'state', 'spend');
  const mine = (await readdir(spendDir)).filter((f) => f.startsWith(`journal-${served.cli.child.pid}-`));
  const lines = (await Promise.all(mine.map((f) => readFile(join(spendDir, f), 'utf8')))).join('').split('\n').filter((l) => l !== '');
  const holdWrites = lines.filter((l) => (JSON.parse(l) as Array<[string, string, number]>).some(([subject, , micros]) => subject === `hold:key:${id}` && micros > 0));
  // 40 requests of 0.05 are 4% of a budget of 50: four extensions, a fifth at most for rounding.
  expect(holdWrites.length).toBeGreaterThanOrEqual(1);
  expect(holdWrites.length).toBeLessThanOrEqual(5);
}, 60_000);
