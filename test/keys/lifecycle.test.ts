// Virtual keys on a real gateway process with a --state-dir: the admin API and the CLI, how keys
// authenticate (and fail to), allowlists, rotation grace, and a restart that keeps keys and spend.
import { spawnSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { eventually } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { api, chatWith, createKey, keysCli, REQUEST_COST, serve, spent, waitSpent, workspace, type Served } from './helpers.js';

let up: Upstream;
let fallback: Upstream;
let dir: string;
let gw: Served;

beforeAll(async () => {
  up = await startUpstream(openAIBehavior({ chunks: 5 }));
  fallback = await startUpstream(openAIBehavior({ chunks: 5 }));
  dir = await workspace([up.port, fallback.port]);
  gw = await serve(dir, args());
}, 60_000);

function args(): string[] {
  return ['--state-dir', join(dir, 'state'), '--concurrency', '1', '--ledger', join(dir, 'ledger'), '--ledger-fsync-ms', '0', '--access-log', join(dir, 'access.log')];
}

afterAll(async () => {
  await gw.stop();
  await up.close();
  await fallback.close();
  await rm(dir, { recursive: true, force: true });
});

describe('virtual keys (one process, --state-dir)', () => {
  it('creates, lists, shows, updates and revokes keys through the CLI; the secret is shown once', async () => {
    const created = await keysCli(gw.admin, ['create', '--name', 'ci-agent', '--workload', 'ci', '--team', 'search', '--models', 'm', '--budget', '1.00/30d', '--rpm', '1000', '--format', 'json']);
    expect(created.code, created.stderr).toBe(0);
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    expect(key).toMatch(/^tg-[a-z2-9]{12}\.[A-Za-z0-9_-]{43}$/);
    expect(key.startsWith(`tg-${id}.`)).toBe(true);

    const list = await keysCli(gw.admin, ['list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(id);
    expect(list.stdout).toContain('ci-agent');
    const show = await keysCli(gw.admin, ['show', id, '--format', 'json']);
    expect(show.code).toBe(0);
    const shown = JSON.parse(show.stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ id, name: 'ci-agent', workload: 'ci', team: 'search', models: ['m'], rpm: 1000, state: 'active', currency: 'USD' });
    // Neither the secret nor its hash ever leaves the gateway again.
    expect(show.stdout).not.toContain(key.slice(16));
    expect(show.stdout).not.toContain('hash');

    expect((await chatWith(gw.url, key)).status).toBe(200);
    const upd = await keysCli(gw.admin, ['update', id, '--models', 'm,m-b', '--budget', '2.00/month']);
    expect(upd.code, upd.stderr).toBe(0);
    expect(upd.stdout).toContain('m, m-b');
    const rev = await keysCli(gw.admin, ['revoke', id]);
    expect(rev.code).toBe(0);
    expect(rev.stdout).toContain('revoked');
    await eventually(async () => (await chatWith(gw.url, key)).status === 401, 'the revoked key to be refused');
    const refused = await chatWith(gw.url, key);
    expect(refused.json.error?.message).toContain('revoked');
  });

  it('authenticates by the key: workload bound, key never forwarded, 401 with the reason, 403 naming the model', async () => {
    const { id, key } = await createKey(gw.admin, { name: 'agent', workload: 'toolbench-agent', models: ['m'] });
    const before = up.requests.length;
    const viaHeader = await chatWith(gw.url, key, { header: 'x-api-key' });
    expect(viaHeader.status).toBe(200);
    const sent = up.requests[before];
    expect(sent?.headers['authorization']).toBeUndefined();
    expect(sent?.headers['x-api-key']).toBeUndefined();
    expect(JSON.stringify(sent?.headers)).not.toContain(key);
    expect(sent?.headers['x-workload-app']).toBe('toolbench-agent');

    const wrongSecret = await chatWith(gw.url, `tg-${id}.${'A'.repeat(43)}`);
    const unknown = await chatWith(gw.url, `tg-${'a'.repeat(12)}.${'A'.repeat(43)}`);
    expect(wrongSecret.status).toBe(401);
    expect(unknown.status).toBe(401);
    // A guess with the right id reads exactly like one with nothing right.
    expect(wrongSecret.text).toBe(unknown.text);
    const malformed = await chatWith(gw.url, 'tg-not-a-key');
    expect(malformed.status).toBe(401);
    expect(malformed.json.error?.message).toContain('not a well-formed');

    const denied = await chatWith(gw.url, key, { model: 'm-b' });
    expect(denied.status).toBe(403);
    expect(denied.json.error?.message).toContain('"m-b"');

    const expired = await createKey(gw.admin, { name: 'old', workload: 'ci', expiresAt: '2020-01-01T00:00:00Z' });
    await eventually(async () => (await chatWith(gw.url, expired.key)).json.error?.message?.includes('expired') === true, 'the expired key to be refused as expired');
  });

  it('validates admin input precisely and refuses callers without the admin token', async () => {
    const bad = await api(gw.admin, 'POST', '/admin/keys', { name: 'x', workload: 'w', budgets: [{ amount: -1, period: '2d' }], rpm: 'ten', colour: 'red' });
    expect(bad.status).toBe(400);
    const problems = (bad.json['error'] as { problems: string[] }).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('budgets[0].amount'),
        expect.stringContaining('budgets[0].period'),
        expect.stringContaining('rpm'),
        expect.stringContaining('unknown field `colour`'),
      ]),
    );
    expect((await api(gw.admin, 'GET', '/admin/keys', undefined, null)).status).toBe(401);
    expect((await api(gw.admin, 'GET', '/admin/keys', undefined, 'wrong-token-wrong-token')).status).toBe(401);
    expect((await api(gw.admin, 'GET', '/admin/keys/zzzzzzzzzzzz')).status).toBe(404);
    const cli = await keysCli(gw.admin, ['create', '--name', 'x', '--workload', 'w', '--budget', '5/fortnight']);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('AMOUNT/PERIOD');
  });

  it('serialises concurrent updates of one key: every change lands, none half-applied', async () => {
    const { id } = await createKey(gw.admin, { name: 'busy', workload: 'ci' });
    const updates = Array.from({ length: 10 }, (_, i) => api(gw.admin, 'PATCH', `/admin/keys/${id}`, { metadata: { n: String(i) }, rpm: 100 + i }));
    const results = await Promise.all(updates);
    expect(results.every((r) => r.status === 200)).toBe(true);
    const final = await api(gw.admin, 'GET', `/admin/keys/${id}`);
    // Ten writes, ten versions: the last writer's metadata and rpm, together.
    expect(final.json['version']).toBe(11);
    const n = Number((final.json['metadata'] as Record<string, string>)['n']);
    expect(final.json['rpm']).toBe(100 + n);
  });

  it('keeps the old secret working for the rotation grace, then stops it', async () => {
    const { id, key: first } = await createKey(gw.admin, { name: 'rotating', workload: 'ci' });
    const r1 = await keysCli(gw.admin, ['rotate', id, '--grace', '1h', '--format', 'json']);
    expect(r1.code, r1.stderr).toBe(0);
    const second = (JSON.parse(r1.stdout) as { key: string }).key;
    expect(second).not.toBe(first);
    await eventually(async () => (await chatWith(gw.url, second)).status === 200, 'the new secret to work');
    expect((await chatWith(gw.url, first)).status).toBe(200);
    // A rotation without grace ends the current secret at once; the first one keeps its hour.
    const r2 = await api(gw.admin, 'POST', `/admin/keys/${id}/rotate`, {});
    const third = r2.json['key'] as string;
    await eventually(async () => (await chatWith(gw.url, third)).status === 200, 'the third secret to work');
    expect((await chatWith(gw.url, second)).status).toBe(401);
    expect((await chatWith(gw.url, first)).status).toBe(200);
    const r3 = await api(gw.admin, 'POST', `/admin/keys/${id}/rotate`, { grace: '1s' });
    const fourth = r3.json['key'] as string;
    await eventually(async () => (await chatWith(gw.url, fourth)).status === 200, 'the fourth secret to work');
    await eventually(async () => (await chatWith(gw.url, third)).status === 401, 'the third secret to stop after its grace', 10_000);
  });

  it('admits exactly the budget under 200 concurrent requests, and says which budget and when it resets', async () => {
    const { id, key } = await createKey(gw.admin, { name: 'burst', workload: 'ci', budgets: [{ amount: 50 * REQUEST_COST, period: '30d' }] });
    await eventually(async () => (await chatWith(gw.url, key, { model: 'nope' })).status !== 401, 'the key to be known');
    const all = await Promise.all(Array.from({ length: 200 }, () => chatWith(gw.url, key)));
    expect(all.filter((r) => r.status === 200).length).toBe(50);
    const refused = all.filter((r) => r.status !== 200);
    expect(refused.length).toBe(150);
    expect(refused.every((r) => r.status === 429 && r.json.error?.code === 'budget_exceeded')).toBe(true);
    const msg = refused[0]?.json.error?.message ?? '';
    expect(msg).toContain(`key "burst" (${id})`);
    expect(msg).toContain('2.5 USD per 30d');
    expect(msg).toMatch(/resets at \d{4}-\d\d-\d\dT/);
    await waitSpent(gw.admin, id, 2.5);
  });

  it('charges a streamed response with its real usage', async () => {
    const { id, key } = await createKey(gw.admin, { name: 'streamer', workload: 'ci', budgets: [{ amount: 10, period: '1d' }] });
    await eventually(async () => (await chatWith(gw.url, key, { model: 'nope' })).status !== 401, 'the key to be known');
    for (let i = 0; i < 3; i++) {
      const r = await chatWith(gw.url, key, { stream: true });
      expect(r.status).toBe(200);
      expect(r.text).toContain('[DONE]');
    }
    await waitSpent(gw.admin, id, 3 * REQUEST_COST);
  });

  it('names the key and team in the ledger, the access log, gen_ai_client_cost and chargeback --by key,team', async () => {
    const { id, key } = await createKey(gw.admin, { name: 'billed', workload: 'ci', team: 'finops' });
    await eventually(async () => (await chatWith(gw.url, key, { model: 'nope' })).status !== 401, 'the key to be known');
    for (let i = 0; i < 2; i++) expect((await chatWith(gw.url, key)).status).toBe(200);
    await eventually(async () => (await readFile(join(dir, 'access.log'), 'utf8').catch(() => '')).includes(`"api_key":"${id}"`), 'the access log line');
    const line = (await readFile(join(dir, 'access.log'), 'utf8')).split('\n').find((l) => l.includes(`"api_key":"${id}"`)) ?? '';
    expect(JSON.parse(line)).toMatchObject({ api_key: id, team: 'finops', workload: 'ci' });
    const metrics = await (await fetch(`${gw.admin}/metrics`)).text();
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    expect(`${lint.stdout}${lint.stderr}`).toBe('');
    expect(metrics).toMatch(new RegExp(`gen_ai_client_cost_total\\{[^}]*key="${id}",team="finops"\\} 0\\.1`));
    await eventually(async () => {
      const r = await runCli(['chargeback', '--ledger', join(dir, 'ledger'), '--rates', join(dir, 'rates.yaml'), '--by', 'key,team', '--format', 'json']);
      const rows = (JSON.parse(r.stdout) as { rows: Array<{ key: string; team: string; cost: number; requests: number }> }).rows;
      const row = rows.find((x) => x.key === id);
      // The probe that waited for the key is a request too (refused, so it costs nothing).
      return row !== undefined && row.team === 'finops' && row.requests === 3 && Math.abs(row.cost - 2 * REQUEST_COST) < 1e-9;
    }, 'chargeback to show the key with its team and cost', 10_000);
  });

  it('fails over to the next backend when a backend-scoped budget is spent, and refuses when none is left', async () => {
    const created = await keysCli(gw.admin, ['create', '--name', 'scoped', '--workload', 'ci', '--budget', `${2 * REQUEST_COST}/1d@b0`, '--budget', `${3 * REQUEST_COST}/1d`, '--format', 'json']);
    expect(created.code, created.stderr).toBe(0);
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    await eventually(async () => (await chatWith(gw.url, key, { model: 'nope' })).status !== 401, 'the key to be known');
    const p0 = up.requests.length;
    const f0 = fallback.requests.length;
    for (let i = 0; i < 3; i++) expect((await chatWith(gw.url, key)).status).toBe(200);
    // Two on the primary backend (its budget), the third on the fallback.
    expect(up.requests.length - p0).toBe(2);
    expect(fallback.requests.length - f0).toBe(1);
    const over = await chatWith(gw.url, key);
    expect(over.status).toBe(429);
    expect(over.json.error?.code).toBe('budget_exceeded');
    // The backend budget counts only what b0 served; the key's own budget counts everything.
    await eventually(async () => {
      const budgets = (await api(gw.admin, 'GET', `/admin/keys/${id}`)).json['budgets'] as Array<{ backend?: string; spent: number }>;
      const on = budgets.find((b) => b.backend === 'b0')?.spent ?? 0;
      const all = budgets.find((b) => b.backend === undefined)?.spent ?? 0;
      return Math.abs(on - 2 * REQUEST_COST) < 1e-9 && Math.abs(all - 3 * REQUEST_COST) < 1e-9;
    }, 'the spend of both budgets', 10_000);
  });

  it('keeps keys and spend across a restart', async () => {
    const { id, key } = await createKey(gw.admin, { name: 'durable', workload: 'ci', budgets: [{ amount: 3 * REQUEST_COST, period: 'month' }] });
    await eventually(async () => (await chatWith(gw.url, key, { model: 'nope' })).status !== 401, 'the key to be known');
    for (let i = 0; i < 2; i++) expect((await chatWith(gw.url, key)).status).toBe(200);
    await waitSpent(gw.admin, id, 2 * REQUEST_COST);
    await gw.stop();
    gw = await serve(dir, args());
    expect(await spent(gw.admin, id)).toBeCloseTo(2 * REQUEST_COST, 9);
    expect((await chatWith(gw.url, key)).status).toBe(200);
    const over = await chatWith(gw.url, key);
    expect(over.status).toBe(429);
    expect(over.json.error?.code).toBe('budget_exceeded');
  }, 60_000);
});
