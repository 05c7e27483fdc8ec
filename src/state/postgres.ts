// The state store on PostgreSQL, for replicas that share keys and spend (`--state-db`).
//
//   tollgate_state_meta     name → value; `schema_version` says which layout the tables have
//   tollgate_state_records  (kind, id) → version, doc (jsonb); compare-and-set on version
//   tollgate_state_spend    (subject, win) → micros; addSpend upserts a whole batch in one statement
//
// Every record write notifies channel `tollgate_state` in the same statement, so the notice is
// sent exactly when the write commits. Subscribers LISTEN on one dedicated connection, reconnect
// with backoff when it is lost, and then ask their listeners to reload (notices sent while the
// connection was down are gone). The URL's password never appears in errors or logs.
import pg from 'pg';
import { silentLogger, type Logger } from '../core/log.js';
import { checkJson, checkName, checkSpend, checkVersion, notify, StateStoreError } from './errors.js';
import type { Change, PutResult, SpendEntry, StateStore, StoredDoc } from './store.js';

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database */
  readonly url: string;
  readonly logger?: Logger;
}

const CHANNEL = 'tollgate_state';
const SCHEMA_VERSION = 1;

// One simple-protocol query: the advisory lock makes replicas that start together create the
// tables one after the other (concurrent CREATE TABLE IF NOT EXISTS can fail on the catalog).
const SCHEMA_SQL = `BEGIN;
SELECT pg_advisory_xact_lock(hashtext('tollgate_state_schema'));
CREATE TABLE IF NOT EXISTS tollgate_state_meta (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS tollgate_state_records (
  kind text NOT NULL,
  id text NOT NULL,
  version bigint NOT NULL,
  doc jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS tollgate_state_spend (
  subject text NOT NULL,
  win text NOT NULL,
  micros bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subject, win)
);
CREATE INDEX IF NOT EXISTS tollgate_state_spend_win_idx ON tollgate_state_spend (win);
INSERT INTO tollgate_state_meta (name, value) VALUES ('schema_version', '${SCHEMA_VERSION}') ON CONFLICT (name) DO NOTHING;
COMMIT;`;

/** The URL as it may be shown: no password, no query parameters (they can carry one too). */
export function redactDbUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username === '' ? '' : `${u.username}@`}${u.host}${u.pathname}`;
  } catch {
    return '(unparseable --state-db URL)';
  }
}

function secretsOf(url: string): string[] {
  const out = [url];
  try {
    const u = new URL(url);
    if (u.password !== '') out.push(u.password, decodeURIComponent(u.password));
    const p = u.searchParams.get('password');
    if (p !== null && p !== '') out.push(p);
  } catch {
    // an unparseable URL is scrubbed whole
  }
  return out.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class PostgresStateStore implements StateStore {
  readonly name = 'postgres' as const;
  private readonly shown: string;
  private readonly secrets: string[];
  private readonly listeners = new Set<(c: Change) => void>();
  private readonly resyncListeners = new Set<() => void>();
  private listener: Listener | undefined;
  private lastPoolLog = 0;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    private readonly logger: Logger,
  ) {
    this.shown = redactDbUrl(url);
    this.secrets = secretsOf(url);
    // An idle connection dropped by the server must not crash the gateway; the next query reconnects.
    pool.on('error', (err) => {
      if (Date.now() - this.lastPoolLog < 10_000) return;
      this.lastPoolLog = Date.now();
      logger.warn('a PostgreSQL state store connection was lost', { db: this.shown, err: this.scrub(err) });
    });
  }

  static async open(opts: PostgresStoreOptions): Promise<PostgresStateStore> {
    if (!/^postgres(ql)?:\/\//.test(opts.url)) {
      throw new StateStoreError(`--state-db must be a postgres:// or postgresql:// URL, not ${redactDbUrl(opts.url)}`, 'for example postgres://tollgate:PASSWORD@db.internal:5432/tollgate');
    }
    const pool = new pg.Pool({ connectionString: opts.url, max: 5, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000, query_timeout: 30_000 });
    const s = new PostgresStateStore(pool, opts.url, opts.logger ?? silentLogger);
    try {
      await pool.query(SCHEMA_SQL);
      const r = await pool.query<{ value: string }>("SELECT value FROM tollgate_state_meta WHERE name = 'schema_version'");
      const found = Number(r.rows[0]?.value);
      if (found > SCHEMA_VERSION) {
        throw new StateStoreError(`the database ${s.shown} holds state schema version ${found}, newer than this gateway understands (${SCHEMA_VERSION})`, 'run a gateway version at least as new as the one that wrote it');
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      if (err instanceof StateStoreError) throw err;
      throw s.error('cannot open the PostgreSQL state store', err, 'check the URL, that the server is up, and that the user may create tables');
    }
    return s;
  }

  async list(kind: string): Promise<StoredDoc[]> {
    checkName('kind', kind);
    const r = await this.query<{ id: string; version: string; doc: unknown }>('listing state records', 'SELECT id, version, doc FROM tollgate_state_records WHERE kind = $1', [kind]);
    return r.rows.map((row) => ({ id: row.id, version: Number(row.version), doc: row.doc })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async get(kind: string, id: string): Promise<StoredDoc | undefined> {
    checkName('kind', kind);
    checkName('id', id);
    const r = await this.query<{ version: string; doc: unknown }>('reading a state record', 'SELECT version, doc FROM tollgate_state_records WHERE kind = $1 AND id = $2', [kind, id]);
    const row = r.rows[0];
    return row === undefined ? undefined : { id, version: Number(row.version), doc: row.doc };
  }

  async put(kind: string, id: string, doc: unknown, ifVersion: number): Promise<PutResult> {
    checkName('kind', kind);
    checkName('id', id);
    checkVersion(ifVersion);
    checkJson(doc);
    const notice = JSON.stringify({ k: kind, i: id });
    // One statement: the row and its notice commit together, or neither does.
    const sql =
      ifVersion === 0
        ? `WITH w AS (INSERT INTO tollgate_state_records (kind, id, version, doc) VALUES ($1, $2, 1, $3::jsonb)
             ON CONFLICT (kind, id) DO NOTHING RETURNING version)
           SELECT version, pg_notify('${CHANNEL}', $4) FROM w`
        : `WITH w AS (UPDATE tollgate_state_records SET doc = $3::jsonb, version = version + 1, updated_at = now()
             WHERE kind = $1 AND id = $2 AND version = $5 RETURNING version)
           SELECT version, pg_notify('${CHANNEL}', $4) FROM w`;
    const params = ifVersion === 0 ? [kind, id, JSON.stringify(doc), notice] : [kind, id, JSON.stringify(doc), notice, ifVersion];
    const r = await this.query<{ version: string }>('writing a state record', sql, params);
    const row = r.rows[0];
    if (row !== undefined) return { ok: true, version: Number(row.version) };
    return { ok: false, current: await this.get(kind, id) };
  }

  async addSpend(entries: readonly SpendEntry[]): Promise<void> {
    checkSpend(entries);
    if (entries.length === 0) return;
    // One row per (subject, window) — an upsert cannot touch a row twice — in a fixed order, so
    // concurrent batches lock rows in the same order and never deadlock.
    const sums = new Map<string, number>();
    for (const e of entries) {
      const k = JSON.stringify([e.subject, e.window]);
      sums.set(k, (sums.get(k) ?? 0) + e.micros);
    }
    const rows = [...sums].map(([k, m]) => [...(JSON.parse(k) as [string, string]), m] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    await this.query(
      'recording spend',
      `INSERT INTO tollgate_state_spend AS t (subject, win, micros)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
       ON CONFLICT (subject, win) DO UPDATE SET micros = t.micros + EXCLUDED.micros, updated_at = now()`,
      [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => String(r[2]))],
    );
  }

  async spend(subject: string, window: string): Promise<number> {
    const r = await this.query<{ micros: string }>('reading spend', 'SELECT micros FROM tollgate_state_spend WHERE subject = $1 AND win = $2', [subject, window]);
    return Number(r.rows[0]?.micros ?? 0);
  }

  async spendIn(windows: readonly string[]): Promise<SpendEntry[]> {
    if (windows.length === 0) return [];
    const r = await this.query<{ subject: string; win: string; micros: string }>('reading spend', 'SELECT subject, win, micros FROM tollgate_state_spend WHERE win = ANY($1::text[])', [[...windows]]);
    return r.rows
      .map((row) => ({ subject: row.subject, window: row.win, micros: Number(row.micros) }))
      .sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : a.window < b.window ? -1 : a.window > b.window ? 1 : 0));
  }

  subscribe(onChange: (change: Change) => void, onResync?: () => void): () => void {
    const change = (c: Change): void => onChange(c);
    const resync = (): void => onResync?.();
    this.listeners.add(change);
    this.resyncListeners.add(resync);
    this.listener ??= new Listener(
      this.url,
      (c) => notify(this.listeners, c),
      () => notify(this.resyncListeners),
      this.logger,
      this.shown,
      (e) => this.scrub(e),
    );
    return () => {
      this.listeners.delete(change);
      this.resyncListeners.delete(resync);
      if (this.listeners.size === 0 && this.listener !== undefined) {
        void this.listener.stop();
        this.listener = undefined;
      }
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.resyncListeners.clear();
    await this.listener?.stop();
    this.listener = undefined;
    await this.pool.end().catch(() => undefined);
  }

  private async query<R extends pg.QueryResultRow>(what: string, sql: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      throw this.error(what, err, 'check that the PostgreSQL server is reachable; the operation was not applied');
    }
  }

  private scrub(err: unknown): string {
    const e = err as { message?: string; code?: string };
    let msg = e.message ?? String(err);
    for (const s of this.secrets) msg = msg.split(s).join('<redacted>');
    return e.code === undefined ? msg : `${msg} (${e.code})`;
  }

  private error(what: string, err: unknown, hint: string): StateStoreError {
    return new StateStoreError(`${what} failed (PostgreSQL ${this.shown}): ${this.scrub(err)}`, hint);
  }
}

/** The LISTEN connection: one per store, reconnecting until stopped. */
class Listener {
  private client: pg.Client | undefined;
  private stopped = false;
  private backoffMs = 250;
  private lastLog = 0;
  private running: Promise<void>;
  private health: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly onChange: (c: Change) => void,
    private readonly onResync: () => void,
    private readonly logger: Logger,
    private readonly shown: string,
    private readonly scrub: (err: unknown) => string,
  ) {
    this.running = this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.health);
    await this.running;
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    while (!this.stopped) {
      const c = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 10_000, query_timeout: 10_000, keepAlive: true });
      c.on('error', (err) => this.lost(c, err));
      c.on('end', () => this.lost(c, undefined));
      c.on('notification', (n) => {
        if (n.channel !== CHANNEL || n.payload === undefined) return;
        try {
          const v = JSON.parse(n.payload) as { k?: unknown; i?: unknown };
          if (typeof v.k === 'string' && typeof v.i === 'string') this.onChange({ kind: v.k, id: v.i });
        } catch {
          // not ours: someone else notified our channel
        }
      });
      try {
        await c.connect();
        await c.query(`LISTEN ${CHANNEL}`);
      } catch (err) {
        c.removeAllListeners('end');
        await c.end().catch(() => undefined);
        this.log('cannot listen for state changes on PostgreSQL; retrying', err);
        await sleep(this.backoffMs);
        this.backoffMs = Math.min(5_000, this.backoffMs * 2);
        continue;
      }
      if (this.stopped) {
        await c.end().catch(() => undefined);
        return;
      }
      this.client = c;
      this.backoffMs = 250;
      // A connection that silently died (a partition, no RST) only shows when it is used.
      clearInterval(this.health);
      this.health = setInterval(() => {
        c.query('SELECT 1').catch((err: unknown) => this.lost(c, err));
      }, 15_000);
      this.health.unref();
      // subscribe() returned before LISTEN was live, and a reconnect missed what was sent meanwhile.
      this.onResync();
      return;
    }
  }

  private lost(c: pg.Client, err: unknown): void {
    if (this.client !== c || this.stopped) return;
    this.client = undefined;
    clearInterval(this.health);
    this.log('lost the PostgreSQL connection that listens for state changes; reconnecting', err);
    c.end().catch(() => undefined);
    this.running = this.connect();
  }

  private log(msg: string, err: unknown): void {
    if (Date.now() - this.lastLog < 10_000) return;
    this.lastLog = Date.now();
    this.logger.warn(msg, err === undefined ? { db: this.shown } : { db: this.shown, err: this.scrub(err) });
  }
}
