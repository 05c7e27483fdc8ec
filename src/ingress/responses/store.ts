// Conversation state for `previous_response_id`, GET /v1/responses/{id} and input_items: one record
// per stored response (its input items, the Response, the caller it belongs to, and the id of the
// response it continued), with a TTL. Records hold one turn each and a chain is walked back when a
// request continues it, so a long conversation costs linear, not quadratic, space.
//
// Embedded by default (bounded by bytes, oldest dropped first); on Redis when the gateway has one,
// so every replica sees the responses any replica stored.
import { GatewayError } from '../../core/errors.js';
import type { Limits } from '../../limits/index.js';
import type { RedisStore } from '../../limits/redis.js';
import type { Json } from '../../providers/shared/json.js';

export interface StoredResponse {
  /** The caller the response belongs to (see scope.ts); no other caller may read or continue it. */
  readonly scope: string;
  readonly previousId: string | undefined;
  readonly input: readonly Json[];
  readonly response: Json;
}

export interface ResponseStore {
  get(id: string): Promise<StoredResponse | undefined>;
  put(id: string, record: StoredResponse): Promise<void>;
  delete(id: string): Promise<boolean>;
}

export interface ResponseStoreSettings {
  /** How long a stored response can be read or continued after it was created. */
  readonly ttlMs: number;
  /** The embedded store's budget (JSON bytes); the oldest responses go first beyond it. */
  readonly memoryBytes: number;
}

export const RESPONSE_STORE_DEFAULTS: ResponseStoreSettings = Object.freeze({ ttlMs: 24 * 3600_000, memoryBytes: 64 * 1024 * 1024 });

// Set once per process from `serve`'s flags, before the gateway starts (each worker parses them
// too); stores made afterwards use it.
let settings = RESPONSE_STORE_DEFAULTS;

export function configureResponseStores(s: ResponseStoreSettings): void {
  settings = Object.freeze({ ...s });
}
/** Turns walked back for one `previous_response_id`: a longer chain is refused, not silently cut. */
export const MAX_CHAIN = 500;

export class MemoryResponseStore implements ResponseStore {
  private readonly map = new Map<string, { json: string; expiresAt: number }>();
  private bytes = 0;

  constructor(
    private readonly ttlMs = RESPONSE_STORE_DEFAULTS.ttlMs,
    private readonly budget = RESPONSE_STORE_DEFAULTS.memoryBytes,
  ) {}

  get(id: string): Promise<StoredResponse | undefined> {
    const e = this.map.get(id);
    if (e === undefined) return Promise.resolve(undefined);
    if (e.expiresAt <= Date.now()) {
      this.remove(id);
      return Promise.resolve(undefined);
    }
    return Promise.resolve(JSON.parse(e.json) as StoredResponse);
  }

  put(id: string, record: StoredResponse): Promise<void> {
    this.remove(id);
    const json = JSON.stringify(record);
    this.map.set(id, { json, expiresAt: Date.now() + this.ttlMs });
    this.bytes += json.length;
    for (const [k] of this.map) {
      if (this.bytes <= this.budget) break;
      this.remove(k);
    }
    return Promise.resolve();
  }

  delete(id: string): Promise<boolean> {
    return Promise.resolve(this.remove(id));
  }

  private remove(id: string): boolean {
    const e = this.map.get(id);
    if (e === undefined) return false;
    this.bytes -= e.json.length;
    return this.map.delete(id);
  }
}

export class RedisResponseStore implements ResponseStore {
  // Writes still on their way: the response is sent while its record is being stored, and a client
  // continuing it at once on this replica must not miss it.
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly redis: RedisStore,
    private readonly ttlMs = RESPONSE_STORE_DEFAULTS.ttlMs,
  ) {}

  async get(id: string): Promise<StoredResponse | undefined> {
    await this.pending.get(id)?.catch(() => undefined);
    const v = await this.call(() => this.redis.getValue(key(id)));
    return v === undefined ? undefined : (JSON.parse(v) as StoredResponse);
  }

  async put(id: string, record: StoredResponse): Promise<void> {
    const write = this.call(() => this.redis.setValue(key(id), JSON.stringify(record), this.ttlMs));
    this.pending.set(id, write);
    try {
      await write;
    } finally {
      if (this.pending.get(id) === write) this.pending.delete(id);
    }
  }

  delete(id: string): Promise<boolean> {
    return this.call(() => this.redis.deleteValue(key(id)));
  }

  private async call<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw new GatewayError('state_store_unavailable', 'The Responses API conversation store (Redis) is unavailable; retry shortly.', { cause: err });
    }
  }
}

function key(id: string): string {
  return `responses:${id}`;
}

// One store per Limits (per gateway process): the Redis client lives there when --redis is set.
const stores = new WeakMap<Limits, ResponseStore>();

export function responseStoreFor(limits: Limits): ResponseStore {
  let s = stores.get(limits);
  if (s === undefined) {
    s = limits.redis === undefined ? new MemoryResponseStore(settings.ttlMs, settings.memoryBytes) : new RedisResponseStore(limits.redis, settings.ttlMs);
    stores.set(limits, s);
  }
  return s;
}
