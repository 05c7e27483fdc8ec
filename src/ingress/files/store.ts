// Who owns each file and batch the gateway created, and on which backend it lives. Ids pass through
// as the backend made them; this record is what lets the gateway refuse another caller's id (as a
// 404, so ids of others are not even confirmed to exist) and send a later request for the id to the
// backend that holds it. Kept 30 days (OpenAI keeps batch files that long), embedded by default, on
// Redis when the gateway has one so every replica knows every record.
import { GatewayError } from '../../core/errors.js';
import type { Limits } from '../../limits/index.js';
import type { RedisStore } from '../../limits/redis.js';

export type ObjectKind = 'file' | 'batch';

export interface OwnedObject {
  /** The caller (credential and x-workload-app, hashed) that created it. */
  readonly scope: string;
  /** The AIServiceBackend key that holds it. */
  readonly backend: string;
}

export interface OwnedStore {
  get(kind: ObjectKind, id: string): Promise<OwnedObject | undefined>;
  put(kind: ObjectKind, id: string, record: OwnedObject): Promise<void>;
  delete(kind: ObjectKind, id: string, scope: string): Promise<void>;
  /** The ids of one kind a caller owns (what its list requests may show), newest last. */
  owned(kind: ObjectKind, scope: string): Promise<ReadonlySet<string>>;
}

const TTL_MS = 30 * 24 * 3600_000;
/** The embedded store's bound: records beyond it push out the oldest. */
const MAX_RECORDS = 200_000;
/** Ids listed per caller and kind; a caller's oldest drop out of its lists (still readable by id). */
const MAX_LISTED = 10_000;

export class MemoryOwnedStore implements OwnedStore {
  private readonly map = new Map<string, OwnedObject & { expiresAt: number }>();
  private readonly index = new Map<string, Set<string>>();

  get(kind: ObjectKind, id: string): Promise<OwnedObject | undefined> {
    const k = `${kind}:${id}`;
    const r = this.map.get(k);
    if (r !== undefined && r.expiresAt <= Date.now()) this.map.delete(k);
    return Promise.resolve(r === undefined || r.expiresAt <= Date.now() ? undefined : { scope: r.scope, backend: r.backend });
  }

  put(kind: ObjectKind, id: string, record: OwnedObject): Promise<void> {
    this.map.set(`${kind}:${id}`, { ...record, expiresAt: Date.now() + TTL_MS });
    for (const [k] of this.map) {
      if (this.map.size <= MAX_RECORDS) break;
      this.map.delete(k);
    }
    const ik = `${kind}:${record.scope}`;
    const ids = this.index.get(ik) ?? new Set<string>();
    ids.add(id);
    for (const old of ids) {
      if (ids.size <= MAX_LISTED) break;
      ids.delete(old);
    }
    this.index.set(ik, ids);
    return Promise.resolve();
  }

  delete(kind: ObjectKind, id: string, scope: string): Promise<void> {
    this.map.delete(`${kind}:${id}`);
    this.index.get(`${kind}:${scope}`)?.delete(id);
    return Promise.resolve();
  }

  owned(kind: ObjectKind, scope: string): Promise<ReadonlySet<string>> {
    const ids = [...(this.index.get(`${kind}:${scope}`) ?? [])].filter((id) => this.map.has(`${kind}:${id}`));
    return Promise.resolve(new Set(ids));
  }
}

export class RedisOwnedStore implements OwnedStore {
  constructor(private readonly redis: RedisStore) {}

  async get(kind: ObjectKind, id: string): Promise<OwnedObject | undefined> {
    const v = await this.call(() => this.redis.getValue(key(kind, id)));
    return v === undefined ? undefined : (JSON.parse(v) as OwnedObject);
  }

  async put(kind: ObjectKind, id: string, record: OwnedObject): Promise<void> {
    await this.call(() => this.redis.setValue(key(kind, id), JSON.stringify(record), TTL_MS));
    // The caller's list is one value, read and rewritten: two replicas adding to it at the same
    // instant can lose one id from the list (the object itself stays readable by its id).
    const ids = [...(await this.owned(kind, record.scope)), id].slice(-MAX_LISTED);
    await this.call(() => this.redis.setValue(indexKey(kind, record.scope), JSON.stringify(ids), TTL_MS));
  }

  async delete(kind: ObjectKind, id: string, scope: string): Promise<void> {
    await this.call(() => this.redis.deleteValue(key(kind, id)));
    const ids = [...(await this.owned(kind, scope))].filter((x) => x !== id);
    await this.call(() => this.redis.setValue(indexKey(kind, scope), JSON.stringify(ids), TTL_MS));
  }

  async owned(kind: ObjectKind, scope: string): Promise<ReadonlySet<string>> {
    const v = await this.call(() => this.redis.getValue(indexKey(kind, scope)));
    return new Set(v === undefined ? [] : (JSON.parse(v) as string[]));
  }

  private async call<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw new GatewayError('state_store_unavailable', 'The store of file and batch owners (Redis) is unavailable; retry shortly.', { cause: err });
    }
  }
}

function key(kind: ObjectKind, id: string): string {
  return `owned:${kind}:${id}`;
}

function indexKey(kind: ObjectKind, scope: string): string {
  return `owned-list:${kind}:${scope}`;
}

const stores = new WeakMap<Limits, OwnedStore>();

export function ownedStoreFor(limits: Limits): OwnedStore {
  let s = stores.get(limits);
  if (s === undefined) {
    s = limits.redis === undefined ? new MemoryOwnedStore() : new RedisOwnedStore(limits.redis);
    stores.set(limits, s);
  }
  return s;
}
