// A pool endpoint given by host name stands for every IPv4 address (A record) the name resolves
// to, re-resolved in the background: a headless Service or a round-robin DNS name becomes one
// replica per address. Until the first answer, and whenever resolution fails, the name itself is
// the endpoint (the connection resolves it), so a DNS hiccup never empties the pool. Names go to
// the system resolver (hosts file included), or straight to the pool's own DNS servers when it
// lists some (e.g. the cluster DNS that serves a headless Service).
import { lookup, Resolver } from 'node:dns/promises';
import type { Endpoint } from '../../config/types.js';

export class DnsEndpoints {
  private endpoints: readonly Endpoint[] = [];
  private readonly answers = new Map<string, readonly string[]>();
  private timer: NodeJS.Timeout | undefined;
  private resolver: Resolver | undefined;

  constructor(private readonly onChange: () => void) {}

  watch(endpoints: readonly Endpoint[], intervalMs: number, servers: readonly string[]): void {
    this.endpoints = endpoints;
    this.stop();
    this.resolver = undefined;
    if (servers.length > 0) {
      this.resolver = new Resolver({ timeout: 2_000, tries: 2 });
      this.resolver.setServers([...servers]);
    }
    if (!endpoints.some((e) => e.kind === 'fqdn')) {
      this.answers.clear();
      return;
    }
    const names = new Set(endpoints.filter((e) => e.kind === 'fqdn').map((e) => e.host));
    for (const k of this.answers.keys()) if (!names.has(k)) this.answers.delete(k);
    this.timer = setInterval(() => void this.resolveAll(names), intervalMs);
    this.timer.unref();
    void this.resolveAll(names);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The endpoints with every resolved name expanded into its addresses. */
  resolved(): Endpoint[] {
    const out: Endpoint[] = [];
    for (const e of this.endpoints) {
      const addrs = e.kind === 'fqdn' ? this.answers.get(e.host) : undefined;
      if (addrs === undefined || addrs.length === 0) out.push(e);
      else for (const a of addrs) out.push({ kind: 'ip', host: a, port: e.port });
    }
    return out;
  }

  private async resolveAll(names: ReadonlySet<string>): Promise<void> {
    let changed = false;
    const resolver = this.resolver;
    for (const host of names) {
      let addrs: string[];
      try {
        addrs = resolver === undefined ? (await lookup(host, { all: true, family: 4 })).map((a) => a.address) : await resolver.resolve4(host);
        addrs.sort();
      } catch {
        continue; // keep the last answer (or the name itself)
      }
      const prev = this.answers.get(host);
      if (prev === undefined || prev.length !== addrs.length || prev.some((a, i) => a !== addrs[i])) {
        this.answers.set(host, addrs);
        changed = true;
      }
    }
    if (changed && this.timer !== undefined) this.onChange();
  }
}
