// Global limits on Redis (ioredis's one home). One server-side Lua script evaluates and consumes all
// of a request's checks atomically: one round trip per request, exact across every replica sharing
// the Redis. Windows use Redis's clock (TIME), so replicas with skewed clocks still agree.
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../core/log.js';
import type { AdmitMode, AdmitResult, Charge, Check, LimitStore, Release } from './store.js';

export interface RedisStoreOptions {
  readonly url: string;
  readonly prefix: string;
  readonly password: string | undefined;
  /** PEM bundle for rediss:// with a private CA. */
  readonly caFile: string | undefined;
  /** Longest a request waits on Redis before the failure mode applies. */
  readonly timeoutMs: number;
  readonly logger: Logger;
}

// KEYS[i]: bucket key. ARGV: mode, n, then per check: kind (w|s|c), limit, windowMs, cost, shadow (0|1), leaseId.
// Returns: admitted (0|1), then per check: used, over (0|1), resetMs.
const ADMIT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mode = ARGV[1]
local n = tonumber(ARGV[2])
local used, over, reset, target = {}, {}, {}, {}
for i = 1, n do
  local b = 2 + (i - 1) * 6
  local kind, limit, win, cost = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local key = KEYS[i]
  if kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    used[i] = redis.call('ZCARD', key)
    reset[i] = 0
    over[i] = used[i] >= limit
  elseif kind == 's' then
    local start = now - (now % win)
    target[i] = key .. ':' .. start
    local cur = tonumber(redis.call('GET', target[i]) or '0')
    local prev = tonumber(redis.call('GET', key .. ':' .. (start - win)) or '0')
    used[i] = math.floor(prev * (1 - (now - start) / win) + cur)
    reset[i] = win - (now - start)
    over[i] = (cost > 0 and used[i] + cost > limit) or (cost == 0 and used[i] >= limit)
  else
    local cur = redis.call('GET', key)
    if cur then
      used[i] = tonumber(cur)
      reset[i] = redis.call('PTTL', key)
      if reset[i] < 0 then reset[i] = win end
    else
      used[i] = 0
      reset[i] = win
    end
    over[i] = (cost > 0 and used[i] + cost > limit) or (cost == 0 and used[i] >= limit)
  end
end
local enforced, ok = 0, 0
for i = 1, n do
  if ARGV[2 + (i - 1) * 6 + 5] ~= '1' then
    enforced = enforced + 1
    if not over[i] then ok = ok + 1 end
  end
end
local admitted = enforced == 0 or (mode == 'all' and ok == enforced) or (mode == 'any' and ok > 0)
if admitted then
  for i = 1, n do
    local b = 2 + (i - 1) * 6
    local kind, win, cost = ARGV[b + 1], tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
    if kind == 'c' then
      redis.call('ZADD', KEYS[i], now + win, ARGV[b + 6])
      redis.call('PEXPIRE', KEYS[i], win)
      used[i] = used[i] + 1
    elseif cost > 0 then
      if kind == 's' then
        redis.call('INCRBY', target[i], cost)
        redis.call('PEXPIRE', target[i], 2 * win)
      elseif redis.call('EXISTS', KEYS[i]) == 1 then
        redis.call('INCRBY', KEYS[i], cost)
      else
        redis.call('SET', KEYS[i], cost, 'PX', win)
        reset[i] = win
      end
      used[i] = used[i] + cost
    end
  end
end
local out = { admitted and 1 or 0 }
for i = 1, n do
  out[#out + 1] = used[i]
  out[#out + 1] = over[i] and 1 or 0
  out[#out + 1] = reset[i]
end
return out
`;

// KEYS: charge keys then release keys. ARGV: nCharges, per charge: kind (w|s), windowMs, amount; then leaseIds.
const SETTLE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nc = tonumber(ARGV[1])
for i = 1, nc do
  local b = 1 + (i - 1) * 3
  local kind, win, amount = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local key = KEYS[i]
  if kind == 's' then
    local k = key .. ':' .. (now - (now % win))
    local v = redis.call('INCRBY', k, amount)
    if v < 0 then redis.call('SET', k, 0, 'KEEPTTL') end
    redis.call('PEXPIRE', k, 2 * win)
  elseif redis.call('EXISTS', key) == 1 then
    local v = redis.call('INCRBY', key, amount)
    if v < 0 then redis.call('SET', key, 0, 'KEEPTTL') end
  elseif amount > 0 then
    redis.call('SET', key, amount, 'PX', win)
  end
end
for i = nc + 1, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[1 + nc * 3 + (i - nc)])
end
return 1
`;

// Adds spend rebuilt from the durable store to live counters, once per loss of Redis's data: KEYS[1]
// is a marker that exists while the counters are whole; KEYS[2..]: counters. ARGV: per counter
// windowMs, amount. A Redis that lost its data lost the marker too, so exactly one replica adds the
// durable spend, on top of whatever was charged since the loss.
const SEED = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #KEYS do
  local win, amount = tonumber(ARGV[(i - 2) * 2 + 1]), tonumber(ARGV[(i - 2) * 2 + 2])
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBY', KEYS[i], amount)
  else
    redis.call('SET', KEYS[i], amount, 'PX', win)
  end
end
redis.call('SET', KEYS[1], '1')
return 1
`;

interface ScriptClient {
  tollgateSeed(numKeys: number, ...args: Array<string | number>): Promise<number>;
  tollgateAdmit(numKeys: number, ...args: Array<string | number>): Promise<number[]>;
  tollgateSettle(numKeys: number, ...args: Array<string | number>): Promise<number>;
}

export class RedisStore implements LimitStore {
  readonly name = 'redis' as const;
  private readonly client: Redis & ScriptClient;
  private readonly prefix: string;
  private everConnected = false;

  constructor(opts: RedisStoreOptions) {
    this.prefix = opts.prefix;
    const tls = opts.url.startsWith('rediss://') ? { ...(opts.caFile === undefined ? {} : { ca: readFileSync(opts.caFile, 'utf8') }) } : undefined;
    const options: RedisOptions = {
      // Fail fast instead of queueing while disconnected: the failure mode must apply within the
      // timeout, never a hung request. ioredis reconnects in the background by itself.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.timeoutMs,
      connectTimeout: Math.max(1_000, opts.timeoutMs),
      retryStrategy: (times) => Math.min(2_000, 50 * 2 ** Math.min(times, 6)),
      lazyConnect: false,
      ...(opts.password === undefined ? {} : { password: opts.password }),
      ...(tls === undefined ? {} : { tls }),
    };
    this.client = new Redis(opts.url, options) as Redis & ScriptClient;
    this.client.defineCommand('tollgateAdmit', { lua: ADMIT });
    this.client.defineCommand('tollgateSettle', { lua: SETTLE });
    this.client.defineCommand('tollgateSeed', { lua: SEED });
    let lastLog = 0;
    const unavailable = (err?: Error): void => {
      // Connection errors repeat on every reconnect attempt; one line per 10 s is enough.
      const now = Date.now();
      if (now - lastLog < 10_000) return;
      lastLog = now;
      opts.logger.warn('redis unavailable; rate-limit failure mode applies until it is back', { url: redactUrl(opts.url), err });
    };
    this.client.on('error', (err: Error) => unavailable(err));
    this.client.on('close', () => unavailable());
    this.client.on('ready', () => {
      this.everConnected = true;
      lastLog = 0;
      opts.logger.info('redis connected', { url: redactUrl(opts.url) });
    });
  }

  async admit(checks: readonly Check[], mode: AdmitMode): Promise<AdmitResult> {
    const args: Array<string | number> = [];
    for (const c of checks) args.push(this.prefix + c.key);
    args.push(mode, checks.length);
    for (const c of checks) {
      args.push(c.kind === 'window' ? 'w' : c.kind === 'sliding' ? 's' : 'c', c.limit, c.windowMs, c.cost, c.shadow ? 1 : 0, c.leaseId);
    }
    const out = await this.client.tollgateAdmit(checks.length, ...args);
    const results = checks.map((_, i) => ({
      used: Number(out[1 + i * 3]),
      over: Number(out[2 + i * 3]) === 1,
      resetMs: Math.max(0, Number(out[3 + i * 3])),
    }));
    return { admitted: Number(out[0]) === 1, results };
  }

  async settle(charges: readonly Charge[], releases: readonly Release[]): Promise<void> {
    if (charges.length === 0 && releases.length === 0) return;
    const keys = [...charges.map((c) => this.prefix + c.key), ...releases.map((r) => this.prefix + r.key)];
    const args: Array<string | number> = [charges.length];
    for (const c of charges) args.push(c.kind === 'window' ? 'w' : 's', c.windowMs, Math.round(c.amount));
    for (const r of releases) args.push(r.leaseId);
    await this.client.tollgateSettle(keys.length, ...keys, ...args);
  }

  /** Whether the marker of whole counters is present (absent: Redis lost its data, or never had it). */
  async hasMarker(marker: string): Promise<boolean> {
    return (await this.client.exists(this.prefix + marker)) === 1;
  }

  /** Adds `charges` and sets `marker` unless the marker exists; true when this call seeded. */
  async seedOnce(marker: string, charges: readonly Charge[]): Promise<boolean> {
    const keys = [this.prefix + marker, ...charges.map((c) => this.prefix + c.key)];
    const args: Array<string | number> = [];
    for (const c of charges) args.push(Math.max(1, Math.round(c.windowMs)), Math.round(c.amount));
    return (await this.client.tollgateSeed(keys.length, ...keys, ...args)) === 1;
  }

  /**
   * Plain values with an expiry under the same prefix, for gateway state replicas must share (the
   * Responses API's conversation state). Errors reach the caller: there is no failure mode to apply.
   */
  async getValue(key: string): Promise<string | undefined> {
    return (await this.client.get(this.prefix + key)) ?? undefined;
  }

  async setValue(key: string, value: string, ttlMs: number): Promise<void> {
    await this.client.set(this.prefix + key, value, 'PX', Math.max(1, Math.round(ttlMs)));
  }

  async deleteValue(key: string): Promise<boolean> {
    return (await this.client.del(this.prefix + key)) > 0;
  }

  /** Whether the connection has been up at least once (readiness waits for it). */
  get connectedOnce(): boolean {
    return this.everConnected;
  }

  get connected(): boolean {
    return this.client.status === 'ready';
  }

  async close(): Promise<void> {
    this.client.disconnect();
    await Promise.resolve();
  }
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//<redacted>@');
}
