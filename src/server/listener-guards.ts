// Listener limits that are not Node server options: their defaults, their environment overrides
// (TOLLGATE_LISTENER_*), and the admission of new connections (a token bucket per client address
// plus a cap on open connections).

export interface Hardening {
  /** Most request headers (HTTP/1.1 header lines; HTTP/2 header pairs, pseudo-headers aside). */
  readonly maxHeaderCount: number;
  /** A request body must keep arriving: longest gap between body bytes. 0 disables body deadlines. */
  readonly bodyIdleTimeoutMs: number;
  /** A request body must have arrived completely within this long of the request head. */
  readonly bodyTimeoutMs: number;
  /** New connections per second per client address (sustained); 0 disables. */
  readonly connectionRatePerIp: number;
  /** New connections one address may open at once before the rate applies. */
  readonly connectionBurstPerIp: number;
  /** Open connections in total; 0 disables. */
  readonly maxConnections: number;
  /**
   * Connections the kernel completes and queues while the worker is busy, before it accepts them
   * (listen backlog; the kernel caps it at net.core.somaxconn).
   */
  readonly listenBacklog: number;
  /** HTTP/2 client stream resets tolerated per session within the window (rapid reset). */
  readonly h2MaxResets: number;
  readonly h2ResetWindowMs: number;
  /**
   * A response the client does not read: longest wait for its write buffer to drain before the
   * client is cut off and the upstream aborted. 0 disables.
   */
  readonly writeTimeoutMs: number;
  /** Deepest JSON nesting of a request body (objects and arrays). */
  readonly jsonMaxDepth: number;
  /** Most JSON values (keys, array elements, scalars) in a request body. */
  readonly jsonMaxValues: number;
  /** How far into a multipart upload (audio transcription) the gateway reads to find its `model` field. */
  readonly uploadLookaheadBytes: number;
}

export const DEFAULT_HARDENING: Hardening = Object.freeze({
  maxHeaderCount: 100,
  bodyIdleTimeoutMs: 30_000,
  bodyTimeoutMs: 300_000,
  // Generous: load generators and sidecars open many connections from one address; the point is
  // a ceiling on connection churn, not a rate limit on well-behaved clients (they keep connections alive).
  connectionRatePerIp: 500,
  connectionBurstPerIp: 1_000,
  maxConnections: 20_000,
  // Node's default (511) overflows when a worker relaying thousands of streams is held up for two
  // seconds while 250 new connections a second arrive: the kernel then drops the handshakes, the
  // clients retry after 1, 3, 7… seconds, and those still dropped after a minute get a reset. A
  // deeper queue turns such a pause into a wait of the pause's length.
  listenBacklog: 4_096,
  h2MaxResets: 200,
  h2ResetWindowMs: 10_000,
  writeTimeoutMs: 30_000,
  // Real chat bodies nest a few levels (tool schemas a dozen or two) and hold thousands of values;
  // past these the parse and the prompt count hold the event loop for everyone.
  jsonMaxDepth: 128,
  jsonMaxValues: 200_000,
  // Enough for a few minutes of compressed audio sent file-first; the cost is memory per upload.
  uploadLookaheadBytes: 8 * 1024 * 1024,
});

const ENV: ReadonlyArray<readonly [keyof Hardening, string, 'count' | 'ms']> = [
  ['maxHeaderCount', 'TOLLGATE_LISTENER_MAX_HEADERS', 'count'],
  ['bodyIdleTimeoutMs', 'TOLLGATE_LISTENER_BODY_IDLE_TIMEOUT_MS', 'ms'],
  ['bodyTimeoutMs', 'TOLLGATE_LISTENER_BODY_TIMEOUT_MS', 'ms'],
  ['connectionRatePerIp', 'TOLLGATE_LISTENER_CONNECTIONS_PER_SECOND', 'count'],
  ['connectionBurstPerIp', 'TOLLGATE_LISTENER_CONNECTION_BURST', 'count'],
  ['maxConnections', 'TOLLGATE_LISTENER_MAX_CONNECTIONS', 'count'],
  ['listenBacklog', 'TOLLGATE_LISTENER_BACKLOG', 'count'],
  ['h2MaxResets', 'TOLLGATE_LISTENER_H2_MAX_RESETS', 'count'],
  ['h2ResetWindowMs', 'TOLLGATE_LISTENER_H2_RESET_WINDOW_MS', 'ms'],
  ['writeTimeoutMs', 'TOLLGATE_LISTENER_WRITE_TIMEOUT_MS', 'ms'],
  ['jsonMaxDepth', 'TOLLGATE_LISTENER_JSON_MAX_DEPTH', 'count'],
  ['jsonMaxValues', 'TOLLGATE_LISTENER_JSON_MAX_VALUES', 'count'],
  ['uploadLookaheadBytes', 'TOLLGATE_LISTENER_UPLOAD_LOOKAHEAD_BYTES', 'count'],
];

export class HardeningEnvError extends Error {}

/** Overrides from the environment; a malformed value is an error naming the variable. */
export function hardeningFromEnv(env: Readonly<Record<string, string | undefined>>): Partial<Hardening> {
  const out: Partial<Record<keyof Hardening, number>> = {};
  for (const [key, name, unit] of ENV) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (!/^\d+$/.test(v) || Number(v) > 2 ** 31) {
      throw new HardeningEnvError(`${name}="${v.slice(0, 40)}" is not a whole number of ${unit === 'ms' ? 'milliseconds' : 'items'} (0 disables)`);
    }
    out[key] = Number(v);
  }
  if (out.listenBacklog === 0) throw new HardeningEnvError('TOLLGATE_LISTENER_BACKLOG must be at least 1');
  if (out.maxHeaderCount === 0) throw new HardeningEnvError('TOLLGATE_LISTENER_MAX_HEADERS must be at least 1');
  if (out.jsonMaxDepth === 0) throw new HardeningEnvError('TOLLGATE_LISTENER_JSON_MAX_DEPTH must be at least 1');
  if (out.uploadLookaheadBytes === 0) throw new HardeningEnvError('TOLLGATE_LISTENER_UPLOAD_LOOKAHEAD_BYTES must be at least 1');
  if (out.jsonMaxValues === 0) throw new HardeningEnvError('TOLLGATE_LISTENER_JSON_MAX_VALUES must be at least 1');
  return out;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class ConnectionGate {
  readonly #buckets = new Map<string, Bucket>();

  constructor(private readonly hard: Hardening) {}

  /** Whether a new connection may proceed; `open` counts it already. */
  admit(address: string | undefined, open: number): 'ok' | 'rate' | 'total' {
    if (this.hard.maxConnections > 0 && open > this.hard.maxConnections) return 'total';
    const rate = this.hard.connectionRatePerIp;
    if (rate <= 0 || address === undefined) return 'ok';
    const now = Date.now();
    const burst = Math.max(1, this.hard.connectionBurstPerIp);
    let b = this.#buckets.get(address);
    if (b === undefined) {
      b = { tokens: burst, at: now };
      this.#buckets.set(address, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
      b.at = now;
    }
    if (b.tokens < 1) return 'rate';
    b.tokens -= 1;
    return 'ok';
  }

  /** Forgets addresses whose bucket has refilled (bounded memory under address churn). */
  prune(now: number): void {
    const rate = this.hard.connectionRatePerIp;
    if (rate <= 0) return;
    const full = Math.max(1, this.hard.connectionBurstPerIp);
    for (const [k, b] of this.#buckets) if (b.tokens + ((now - b.at) / 1000) * rate >= full) this.#buckets.delete(k);
  }
}
