// Virtual keys in one serving process: the registry the request path reads, the spend it admits
// and settles, the admin operations, and the rebuild of live budget counters from the durable spend
// (at start, and whenever Redis is found to have lost its data).
import type { Rates } from '../accounting/rates.js';
import { GatewayError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Limits } from '../limits/index.js';
import type { RedisStore } from '../limits/redis.js';
import type { Charge } from '../limits/store.js';
import type { StateStore } from '../state/store.js';
import { KeyAdmin } from './admin.js';
import { windowOf } from './periods.js';
import { KeyRegistry, type LiveKey } from './registry.js';
import { KEY_PREFIX } from './secret.js';
import { HOLD_PREFIX } from './holds.js';
import { budgetCounter, KeySpend, type SpendObserver, type StoreFailureModes } from './spend.js';

const COUNTER_SLACK_MS = 86_400_000;
const REDIS_CHECK_MS = 1_000;
/** Present in Redis while its budget counters hold the durable spend (see RedisStore.seedOnce). */
const SEEDED_MARKER = 'b:seeded';

export interface VirtualKeysOptions {
  readonly state: StateStore;
  readonly rates: Rates | undefined;
  readonly logger: Logger;
  readonly failure: StoreFailureModes;
  readonly observer: SpendObserver;
  /**
   * Whether this process rebuilds the in-process budget counters at start. A worker of several
   * does not: the counters live in the instance's primary, which rebuilds them once.
   */
  readonly rebuildLocal: boolean;
}

export class VirtualKeys {
  readonly admin: KeyAdmin;
  private redisTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly registry: KeyRegistry,
    readonly spend: KeySpend,
    private readonly opts: VirtualKeysOptions,
  ) {
    this.admin = new KeyAdmin(opts.state);
  }

  static async open(opts: VirtualKeysOptions, limits: Limits): Promise<VirtualKeys> {
    const registry = await KeyRegistry.open(opts.state, opts.logger);
    const spend = new KeySpend(registry, () => limits.redis ?? limits.local, opts.state, opts.rates, opts.observer, opts.logger, opts.failure, limits.redis === undefined);
    const vk = new VirtualKeys(registry, spend, opts);
    if (opts.rates === undefined && registry.allBudgets().length > 0) {
      opts.logger.warn('virtual key budgets are not enforced: no rates file (--rates) prices the requests');
    }
    const redis = limits.redis;
    if (redis !== undefined) vk.watchRedis(redis);
    else if (opts.rebuildLocal) {
      const charges = await liveSpend(registry, opts.state, Date.now());
      if (charges.length > 0) await limits.local.settle(charges, []);
    }
    return vk;
  }

  /**
   * The virtual key a request presents (`Authorization: Bearer tg-…` or `x-api-key: tg-…`), checked;
   * undefined when it presents none. Throws the 401 for a key that is not good.
   */
  private authenticate(headers: Readonly<Record<string, string | string[] | undefined>>): LiveKey | undefined {
    const presented = presentedKey(headers);
    if (presented === undefined) return undefined;
    const r = this.registry.lookup(presented);
    if (r.ok) return r.key;
    throw new GatewayError('unauthenticated', r.message, { headers: { 'www-authenticate': 'Bearer realm="tollgate", error="invalid_token"' } });
  }

  /**
   * Authenticates the request by its virtual key, if it presents one, and makes the key its
   * identity: the key's workload replaces any `x-workload-app` the client sent, and the key leaves
   * the headers so it never travels further. Every route family (model APIs, stored responses,
   * MCP) calls this one method, so a key is accepted or refused the same way everywhere.
   */
  bind(headers: Record<string, string | string[] | undefined>): LiveKey | undefined {
    const key = this.authenticate(headers);
    if (key === undefined) return undefined;
    for (const h of KEY_HEADERS) delete headers[h];
    headers['x-workload-app'] = key.doc.workload;
    return key;
  }

  /** Throws the 403 when the key may not use `model`. */
  allowModel(key: LiveKey, model: string | undefined): void {
    if (key.models === undefined) return;
    if (model !== undefined && key.models.has(model)) return;
    const what = model === undefined ? 'a request without a "model"' : `model "${model.slice(0, 200).replace(/[^\x20-\x7e]/g, '?')}"`;
    throw new GatewayError('forbidden', `The API key "${key.id}" may not use ${what}; it allows ${[...key.models].slice(0, 20).join(', ')}.`, { param: 'model' });
  }

  async close(): Promise<void> {
    if (this.redisTimer !== undefined) clearInterval(this.redisTimer);
    this.registry.close();
    await this.spend.close();
  }

  /** Rebuilds Redis's budget counters from the durable spend when its data is gone (first start, flush, failover). */
  private watchRedis(redis: RedisStore): void {
    let busy = false;
    const check = async (): Promise<void> => {
      if (busy || !redis.connected) return;
      busy = true;
      try {
        // Redis kept its data: charges it missed while unreachable can go in now.
        if (await redis.hasMarker(SEEDED_MARKER)) return await this.spend.retryUnsettled();
        await this.spend.flush();
        // The journal has them and the rebuild below adds the journal's totals: applying them too would count them twice.
        this.spend.dropUnsettled();
        const charges = await liveSpend(this.registry, this.opts.state, Date.now());
        if (await redis.seedOnce(SEEDED_MARKER, charges)) this.opts.logger.info('budget counters in Redis rebuilt from the state store', { counters: charges.length });
      } catch (err) {
        this.opts.logger.warn('checking the budget counters in Redis failed', { err });
      } finally {
        busy = false;
      }
    };
    void check();
    this.redisTimer = setInterval(() => void check(), REDIS_CHECK_MS);
    this.redisTimer.unref();
  }
}

/** The durable spend of every budget's current window, as charges to its live counter. */
export async function liveSpend(registry: KeyRegistry, state: StateStore, now: number): Promise<Charge[]> {
  const windowMs = new Map<string, number>();
  for (const b of registry.allBudgets()) {
    const w = windowOf(b.budget, now);
    windowMs.set(w.id, w.end - now + COUNTER_SLACK_MS);
  }
  if (windowMs.size === 0) return [];
  // Spend plus what is still held: a hold not returned is a process that stopped without saying what
  // it spent of it, so all of it counts.
  const totals = new Map<string, { windowMs: number; micros: number }>();
  for (const e of await state.spendIn([...windowMs.keys()])) {
    const ms = windowMs.get(e.window);
    if (ms === undefined) continue;
    const subject = e.subject.startsWith(HOLD_PREFIX) ? e.subject.slice(HOLD_PREFIX.length) : e.subject;
    const key = budgetCounter(subject, e.window);
    const t = totals.get(key);
    if (t === undefined) totals.set(key, { windowMs: ms, micros: e.micros });
    else t.micros += e.micros;
  }
  const out: Charge[] = [];
  for (const [key, t] of totals) if (t.micros > 0) out.push({ kind: 'window', key, windowMs: t.windowMs, amount: t.micros });
  return out;
}

/**
 * Where clients put an API key: `x-api-key` (Anthropic SDKs), `api-key` (Azure OpenAI SDKs) and
 * `x-goog-api-key` (Gemini SDKs) besides `Authorization: Bearer` (OpenAI SDKs, MCP clients).
 */
const KEY_HEADERS = ['authorization', 'x-api-key', 'api-key', 'x-goog-api-key'] as const;

function presentedKey(headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined {
  const auth = headers['authorization'];
  if (typeof auth === 'string' && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') {
    const v = auth.slice(7).trim();
    if (v.startsWith(KEY_PREFIX)) return v;
  }
  for (const h of KEY_HEADERS) {
    const x = h === 'authorization' ? undefined : headers[h];
    if (typeof x === 'string' && x.trim().startsWith(KEY_PREFIX)) return x.trim();
  }
  return undefined;
}
