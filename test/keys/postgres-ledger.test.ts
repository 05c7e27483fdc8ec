// The PostgreSQL usage sink carries the virtual key and its team like the file ledger does, also in a
// table an older gateway created (without those columns), and `chargeback --by key,team` reads them
// back from PostgreSQL. A real gateway process, a real PostgreSQL.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { eventually } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { startPostgres, type PgServer } from '../observability/services.js';
import { chatWith, createKey, REQUEST_COST, serve, workspace, type Served } from './helpers.js';

/** The usage table as gateways before virtual keys created it: no api_key, no team. */
const OLD_TABLE = `CREATE TABLE tollgate_usage (
  key text PRIMARY KEY, request_id text NOT NULL, time timestamptz NOT NULL, operation text NOT NULL,
  workload text NOT NULL, route text NOT NULL, rule text NOT NULL, backend text NOT NULL, provider text NOT NULL,
  original_model text NOT NULL, request_model text NOT NULL, response_model text NOT NULL, stream boolean NOT NULL,
  status integer NOT NULL, error_code text NOT NULL, client_aborted boolean NOT NULL, aborted boolean NOT NULL DEFAULT false,
  attempts integer NOT NULL, input_tokens bigint NOT NULL, cached_input_tokens bigint NOT NULL,
  cache_creation_input_tokens bigint NOT NULL, output_tokens bigint NOT NULL, reasoning_tokens bigint NOT NULL,
  total_tokens bigint NOT NULL, usage_source text NOT NULL, backend_input_tokens bigint, backend_cached_input_tokens bigint,
  backend_cache_creation_input_tokens bigint, backend_output_tokens bigint, backend_reasoning_tokens bigint,
  backend_total_tokens bigint, gateway_encoding text, gateway_input_tokens bigint, gateway_output_tokens bigint,
  cost double precision, ttft_ms double precision, duration_ms double precision NOT NULL, upstream_ms double precision,
  generation integer NOT NULL
);
CREATE INDEX tollgate_usage_time_idx ON tollgate_usage (time);
INSERT INTO tollgate_usage VALUES ('old-1', 'req-old', now() - interval '1 hour', 'chat', 'ci', 'default/r', 'default/r/rule-0',
  'default/b0', 'openai', 'm', 'm', 'm', false, 200, '', false, false, 1, 0, 0, 0, 7, 0, 7, 'backend',
  0, 0, 0, 7, 0, 7, NULL, NULL, NULL, NULL, NULL, 12.5, 10.0, 1);`;

let up: Upstream;
let db: PgServer;
let dir: string;
let gw: Served;

beforeAll(async () => {
  [up, db] = await Promise.all([startUpstream(openAIBehavior({ chunks: 5 })), startPostgres()]);
  dir = await workspace([up.port]);
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    await c.query(OLD_TABLE);
  } finally {
    await c.end();
  }
  gw = await serve(dir, ['--state-dir', join(dir, 'state'), '--concurrency', '1', '--ledger-postgres', db.url]);
}, 90_000);

afterAll(async () => {
  await gw?.stop();
  await Promise.all([db?.close(), up?.close()]);
  await rm(dir, { recursive: true, force: true });
});

describe('virtual keys in the PostgreSQL ledger', () => {
  it('adds the key and team columns to a table an older gateway created, keeping its rows', async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const cols = await c.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = 'tollgate_usage' AND column_name IN ('api_key', 'team') ORDER BY 1");
      expect(cols.rows.map((r) => r.column_name)).toEqual(['api_key', 'team']);
      const old = await c.query<{ api_key: string; team: string }>("SELECT api_key, team FROM tollgate_usage WHERE key = 'old-1'");
      expect(old.rows).toEqual([{ api_key: '', team: '' }]);
    } finally {
      await c.end();
    }
  });

  it('writes each request with its key and team, and chargeback --by key,team reads them from PostgreSQL', async () => {
    const { id, key } = await createKey(gw.admin, { name: 'pg-billed', workload: 'ci', team: 'platform' });
    await eventually(async () => (await chatWith(gw.url, key)).status === 200, 'the key to be known');
    for (let i = 0; i < 2; i++) expect((await chatWith(gw.url, key)).status).toBe(200);
    expect((await chatWith(gw.url, undefined)).status).toBe(200);

    type Row = { key: string; team: string; cost: number; requests: number };
    let rows: Row[] = [];
    await eventually(async () => {
      const r = await runCli(['chargeback', '--ledger', db.url, '--rates', join(dir, 'rates.yaml'), '--by', 'key,team', '--format', 'json']);
      if (r.code !== 0) return false;
      rows = (JSON.parse(r.stdout) as { rows: Row[] }).rows;
      return rows.find((x) => x.key === id)?.requests === 3;
    }, 'the key to reach PostgreSQL and chargeback', 15_000);
    const mine = rows.find((x) => x.key === id);
    expect(mine?.team).toBe('platform');
    expect(mine?.cost).toBeCloseTo(3 * REQUEST_COST, 9);
    // The request without a key and the older gateway's row have neither (nor has a probe refused
    // before the key was known).
    const none = rows.find((x) => x.key === '(none)');
    expect(none?.team).toBe('(none)');
    expect(none?.requests).toBeGreaterThanOrEqual(2);

    const table = await runCli(['chargeback', '--ledger', db.url, '--rates', join(dir, 'rates.yaml'), '--by', 'team']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain('platform');
  });
});
