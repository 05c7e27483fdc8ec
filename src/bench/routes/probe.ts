// Probes: one inference request per route through the gateway, on keep-alive connections. A route
// is ready when a request for it succeeds and the upstream echoes that route's model override (the
// right rule served it); 404 means the config is not live yet, anything else is counted as an error.
import http from 'node:http';
import { nowMs, sleep } from '../../core/clock.js';
import type { RouteKey } from './manifests.js';

export type ProbeOutcome = 'ready' | 'not-yet' | 'misrouted' | 'error';

export interface RouteReadiness {
  readonly index: number;
  /** ms from the write of the route's manifest to its first successful request; undefined if never. */
  readonly readyMs: number | undefined;
  readonly attempts: number;
  readonly outcome: 'ready' | 'misrouted' | 'timeout';
  readonly errors: number;
}

export class Prober {
  private readonly agent: http.Agent;

  constructor(
    private readonly port: number,
    maxSockets = 64,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  once(key: RouteKey): Promise<{ outcome: ProbeOutcome; status: number; detail: string }> {
    const model = key.header === 'x-ai-eg-model' ? key.value : 'bench';
    const body = `{"model":${JSON.stringify(model)},"messages":[{"role":"user","content":"hi"}],"max_tokens":1}`;
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (key.header === 'x-workload-app') headers['x-workload-app'] = key.value;
    return new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: this.port, method: 'POST', path: '/v1/chat/completions', headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status === 404) return resolve({ outcome: 'not-yet', status, detail: text.slice(0, 200) });
          if (status !== 200) return resolve({ outcome: 'error', status, detail: text.slice(0, 200) });
          const served = /"model":"([^"]*)"/.exec(text)?.[1];
          resolve({ outcome: served === key.served ? 'ready' : 'misrouted', status, detail: `answered by ${served ?? '?'}, expected ${key.served}` });
        });
        res.on('error', (e) => resolve({ outcome: 'error', status: 0, detail: e.message }));
      });
      req.on('error', (e) => resolve({ outcome: 'error', status: 0, detail: e.message }));
      req.end(body);
    });
  }

  /** Probe one route every `intervalMs` (one request in flight) until it is ready or `timeoutMs` pass. */
  async untilReady(key: RouteKey, writtenAt: number, intervalMs: number, timeoutMs: number): Promise<RouteReadiness> {
    let attempts = 0;
    let errors = 0;
    for (;;) {
      attempts++;
      const r = await this.once(key);
      const at = nowMs();
      if (r.outcome === 'ready') return { index: key.index, readyMs: at - writtenAt, attempts, outcome: 'ready', errors };
      if (r.outcome === 'misrouted') return { index: key.index, readyMs: undefined, attempts, outcome: 'misrouted', errors };
      if (r.outcome === 'error') errors++;
      if (at - writtenAt > timeoutMs) return { index: key.index, readyMs: undefined, attempts, outcome: 'timeout', errors };
      await sleep(intervalMs);
    }
  }

  /** Every route of `keys`, `concurrency` at a time, each retried until ready (readiness from `writtenAt`). */
  async sweep(keys: readonly RouteKey[], writtenAt: number, concurrency: number, timeoutMs: number): Promise<RouteReadiness[]> {
    const out: RouteReadiness[] = new Array<RouteReadiness>(keys.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        const key = keys[i];
        if (key === undefined) return;
        out[i] = await this.untilReady(key, writtenAt, 5, timeoutMs);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
    return out;
  }

  close(): void {
    this.agent.destroy();
  }
}
