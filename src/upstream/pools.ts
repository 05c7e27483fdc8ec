// Connection pools to upstream endpoints (undici's home folder). Pools outlive config reloads: a new
// config reuses the pool of every endpoint whose address and TLS settings did not change, so a
// reload never drops warm connections; pools no longer referenced close once their requests finish.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { BackendConfig, Endpoint, UpstreamTls } from '../config/types.js';
import { nowMs } from '../core/clock.js';
import { IdlePool } from './idle-pool.js';
import { PoolPicker, type PickerStats } from './pool/picker.js';

export interface EndpointHandle {
  readonly origin: string;
  readonly pool: IdlePool;
  /** Passive health: skip this endpoint until then after consecutive connect failures (ms, monotonic). */
  downUntil: number;
  consecutiveFailures: number;
  /** Attempts dispatched to this endpoint and not finished (the picker's never-stale load signal). */
  inflight: number;
}

export interface BackendUpstream {
  readonly backend: BackendConfig;
  readonly endpoints: readonly EndpointHandle[];
  next: number;
  /** InferencePool backends: the endpoint picker that chooses among `endpoints`. */
  readonly picker?: PoolPicker | undefined;
}

const EJECT_AFTER_FAILURES = 3;
const EJECT_FOR_MS = 5_000;

export class UpstreamRegistry {
  private readonly pools = new Map<string, EndpointHandle>();
  /** InferencePool pickers by pool key; they outlive generations so what they learned carries over. */
  private readonly pickers = new Map<string, PoolPicker>();

  /** Endpoint handles for a backend, creating pools for new endpoints and reusing the rest. */
  forBackend(backend: BackendConfig): BackendUpstream {
    const pool = backend.pool;
    if (pool !== undefined) {
      let picker = this.pickers.get(backend.key);
      if (picker === undefined) {
        picker = new PoolPicker(pool, (ep) => this.handle(ep, undefined, backend.connectTimeoutMs), nowMs);
        this.pickers.set(backend.key, picker);
      } else if (picker.config !== pool) {
        picker.configure(pool);
      }
      picker.start();
      return { backend, endpoints: picker.handles(), next: 0, picker };
    }
    const endpoints = backend.endpoints.map((ep) => this.handle(ep, backend.tls, backend.connectTimeoutMs));
    return { backend, endpoints, next: 0 };
  }

  /** What each InferencePool's picker did, for metrics. */
  pickerStats(): PickerStats[] {
    return [...this.pickers.values()].map((p) => p.stats());
  }

  /** Close pools that no backend in `live` uses any more; in-flight requests on them complete first. */
  retainOnly(live: Iterable<BackendUpstream>): Promise<void> {
    const keep = new Set<EndpointHandle>();
    const livePickers = new Set<PoolPicker>();
    for (const b of live) {
      for (const e of b.endpoints) keep.add(e);
      if (b.picker !== undefined) {
        livePickers.add(b.picker);
        for (const e of b.picker.handles()) keep.add(e);
      }
    }
    for (const [key, p] of this.pickers) {
      if (livePickers.has(p)) continue;
      p.stop();
      this.pickers.delete(key);
    }
    const closing: Promise<void>[] = [];
    for (const [key, handle] of this.pools) {
      if (keep.has(handle)) continue;
      this.pools.delete(key);
      closing.push(handle.pool.close().catch(() => undefined));
    }
    return Promise.all(closing).then(() => undefined);
  }

  async closeAll(force = false): Promise<void> {
    for (const p of this.pickers.values()) p.stop();
    this.pickers.clear();
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((h) => (force ? h.pool.destroy() : h.pool.close()).catch(() => undefined)));
  }

  get size(): number {
    return this.pools.size;
  }

  private handle(ep: Endpoint, tls: UpstreamTls | undefined, connectTimeoutMs: number): EndpointHandle {
    const scheme = tls === undefined ? 'http' : 'https';
    const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
    const origin = `${scheme}://${host}:${ep.port}`;
    const key = `${origin}|${tlsKey(tls)}|${connectTimeoutMs}`;
    const existing = this.pools.get(key);
    if (existing !== undefined) return existing;
    const pool = new IdlePool(origin, {
      connect: {
        timeout: connectTimeoutMs,
        ...(tls === undefined
          ? {}
          : {
              servername: tls.servername ?? (ep.kind === 'fqdn' ? ep.host : undefined),
              ca: tls.ca ?? systemCAs(),
              rejectUnauthorized: !tls.insecureSkipVerify,
            }),
      },
      pipelining: 1,
      // LLM responses can be long; the request path enforces its own deadlines per attempt.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
    });
    const handle: EndpointHandle = { origin, pool, downUntil: 0, consecutiveFailures: 0, inflight: 0 };
    this.pools.set(key, handle);
    return handle;
  }
}

/** Round-robin over healthy endpoints, skipping those this request already tried when possible. */
export function pickEndpoint(b: BackendUpstream, tried: ReadonlySet<EndpointHandle>, nowMs: number): EndpointHandle {
  const n = b.endpoints.length;
  if (n === 1) return b.endpoints[0] as EndpointHandle;
  let fallback: EndpointHandle | undefined;
  for (let i = 0; i < n; i++) {
    const e = b.endpoints[(b.next + i) % n] as EndpointHandle;
    if (tried.has(e)) {
      fallback ??= e;
      continue;
    }
    if (e.downUntil > nowMs) {
      fallback ??= e;
      continue;
    }
    b.next = (b.next + i + 1) % n;
    return e;
  }
  // Everything is down or tried: still send somewhere rather than fail without trying.
  b.next = (b.next + 1) % n;
  return fallback ?? (b.endpoints[0] as EndpointHandle);
}

export function recordConnectFailure(e: EndpointHandle, nowMs: number): void {
  e.consecutiveFailures++;
  if (e.consecutiveFailures >= EJECT_AFTER_FAILURES) e.downUntil = nowMs + EJECT_FOR_MS;
}

/** A read-only view of an endpoint's pool for metrics: connections and requests by state. */
export function endpointStats(e: EndpointHandle): { connected: number; free: number; pending: number; queued: number; running: number } {
  const s = e.pool.stats;
  return { connected: s.connected, free: s.free, pending: s.pending, queued: s.queued, running: s.running };
}

export function recordSuccess(e: EndpointHandle): void {
  if (e.consecutiveFailures !== 0) {
    e.consecutiveFailures = 0;
    e.downUntil = 0;
  }
}

function tlsKey(tls: UpstreamTls | undefined): string {
  if (tls === undefined) return 'plain';
  const ca = tls.ca === undefined ? 'system' : createHash('sha256').update(tls.ca).digest('hex').slice(0, 16);
  return `tls:${tls.servername ?? ''}:${ca}:${tls.insecureSkipVerify ? 'insecure' : 'verify'}`;
}

// "System" CAs (BackendTLSPolicy wellKnownCACertificates: System): Node's bundled Mozilla store plus
// the operating system's bundle when there is one, so private CAs installed on the host work too.
let systemBundle: string[] | undefined;
function systemCAs(): string[] {
  if (systemBundle !== undefined) return systemBundle;
  const bundle = [...rootCertificates];
  for (const file of ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem']) {
    try {
      bundle.push(readFileSync(file, 'utf8'));
      break;
    } catch {
      // not present on this OS layout; try the next
    }
  }
  systemBundle = bundle;
  return bundle;
}
