// The PostgreSQL state store: the shared conformance suite on a throw-away PostgreSQL server, plus
// what only a database has (a listener connection killed by the server, password redaction).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStateStore } from '../../src/state/postgres.js';
import { StateStoreError } from '../../src/state/index.js';
import { startPostgres, type PgServer } from '../observability/services.js';
import { eventually, runChild, stateConformance, uid } from './conformance.js';

let server: PgServer | undefined;
async function database(): Promise<PgServer> {
  server ??= await startPostgres();
  return server;
}
afterAll(async () => {
  await server?.close();
});

stateConformance('postgres', async () => {
  const { url } = await database();
  return {
    target: { db: url },
    open: () => PostgresStateStore.open({ url }),
    teardown: async () => undefined,
  };
});

describe('postgres state store', () => {
  let url: string;
  beforeAll(async () => {
    url = (await database()).url;
  });

  it('creates its schema once, however many replicas open it at the same time', async () => {
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStateStore.open({ url })));
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const t = await admin.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'tollgate_state_%' ORDER BY 1");
      expect(t.rows.map((r) => r.table_name)).toEqual(['tollgate_state_meta', 'tollgate_state_records', 'tollgate_state_spend']);
      const v = await admin.query<{ value: string }>("SELECT value FROM tollgate_state_meta WHERE name = 'schema_version'");
      expect(v.rows).toEqual([{ value: '1' }]);
    } finally {
      await admin.end();
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('keeps its subscription when the server terminates the listening connection, and asks for a reload', async () => {
    const store = await PostgresStateStore.open({ url });
    const kind = `k${uid()}`;
    const seen: string[] = [];
    let resyncs = 0;
    const stop = store.subscribe(
      (c) => c.kind === kind && seen.push(c.id),
      () => resyncs++,
    );
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await eventually('the subscription is live', () => resyncs === 1);
      const killed = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN tollgate_state%' AND pid <> pg_backend_pid()");
      expect(killed.rowCount).toBeGreaterThan(0);
      await eventually('a reload after reconnecting', () => resyncs >= 2);
      await runChild({ target: { db: url }, action: 'put', kind, id: 'after-reconnect', doc: {}, ifVersion: 0 });
      await eventually('a change after the reconnect', () => seen.includes('after-reconnect'));
    } finally {
      stop();
      await admin.end();
      await store.close();
    }
  });

  it('never shows the password of the URL in an error', async () => {
    const err = await PostgresStateStore.open({ url: 'postgres://tollgate:s3cr3t-pw@127.0.0.1:1/state?password=other-s3cr3t' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateStoreError);
    const text = `${(err as StateStoreError).message} ${(err as StateStoreError).hint ?? ''} ${JSON.stringify(err)}`;
    expect(text).toContain('postgres://tollgate@127.0.0.1:1/state');
    expect(text).not.toMatch(/s3cr3t/);
  });
});
