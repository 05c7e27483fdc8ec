// The limits the gateway enforces, as one object the request path and the gateway process hold:
// BackendTrafficPolicy rate limits (local and global) and QuotaPolicy quotas, over a local store and
// an optional Redis. Stores outlive config reloads; rules find their buckets by stable ids.
import type { RuntimeConfig } from '../config/types.js';
import type { Logger } from '../core/log.js';
import { RateLimiter, type FailureMode, type LimitObserver, type LocalStore } from './engine.js';
import { MemoryStore } from './memory.js';
import { QuotaGate, type QuotaObserver } from './quotas.js';
import { RedisStore, type RedisStoreOptions } from './redis.js';

export interface LimitsOptions {
  readonly redis: Omit<RedisStoreOptions, 'logger'> | undefined;
  readonly failureMode: FailureMode;
  readonly observer: LimitObserver & QuotaObserver;
  readonly logger: Logger;
  /** The store of local rules and of quotas without Redis; default one in this process. */
  readonly local?: LocalStore;
}

export class Limits {
  readonly local: LocalStore;
  readonly redis: RedisStore | undefined;
  readonly rate: RateLimiter;
  readonly quotas: QuotaGate;

  constructor(opts: LimitsOptions) {
    this.local = opts.local ?? new MemoryStore();
    this.redis = opts.redis === undefined ? undefined : new RedisStore({ ...opts.redis, logger: opts.logger });
    this.rate = new RateLimiter({ local: this.local, global: this.redis, failureMode: opts.failureMode, observer: opts.observer, logger: opts.logger });
    // Quotas are shared across replicas whenever a Redis is configured.
    this.quotas = new QuotaGate(this.redis ?? this.local, opts.observer, opts.failureMode === 'open');
  }

  /**
   * Why the gateway must not report ready yet: a limit of this config lives in Redis and Redis has
   * not connected since start (admitting then would fail open and over-admit). Undefined: ready.
   * Once connected, a later outage does not take the replica out of service: the failure mode
   * applies instead, loudly.
   */
  notReadyReason(config: RuntimeConfig): string | undefined {
    if (this.redis === undefined || this.redis.connectedOnce || !usesSharedStore(config)) return undefined;
    return 'waiting for the first connection to Redis (global rate limits or quotas use it)';
  }

  async close(): Promise<void> {
    await this.local.close();
    await this.redis?.close();
  }
}

/** Whether any limit of the config is shared across replicas (a Global rate-limit rule or a quota). */
export function usesSharedStore(config: RuntimeConfig): boolean {
  if (config.quotas.size > 0) return true;
  return config.routes.some((route) => route.rules.some((rule) => rule.rateLimits.some((r) => r.scope === 'Global')));
}

export type { FailureMode, LimitObserver, LocalStore } from './engine.js';
export type { QuotaObserver } from './quotas.js';
