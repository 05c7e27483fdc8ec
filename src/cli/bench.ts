// `tollgate bench <name>`: the benchmarks. Each lives in src/bench/<name>.ts and exports
// `run(argv): Promise<number>`; `npm run bench:<name>` is the same command.
import { UsageError } from './args.js';

interface BenchModule {
  run(argv: string[]): Promise<number>;
}

const BENCHES: Readonly<Record<string, { summary: string; load: () => Promise<BenchModule> }>> = {
  etl: { summary: 'workload unroll throughput (MB/s of input) and memory', load: () => import('../bench/etl.js') },
  sim: { summary: 'simulator: concurrent streams on one core, step-loop jitter, CPU per token vs per-stream timers', load: () => import('../bench/sim.js') },
  routes: { summary: 'control-plane scale: N routes via hot reload, readiness per route, routing cost and memory per route', load: () => import('../bench/routes.js') },
  tokenizer: { summary: 'accounting: BPE throughput, loop stalls, per-request cost', load: () => import('../accounting/bench.js') },
  limits: { summary: 'latency/CPU of a local and a Redis-backed rate limit vs no limit', load: () => import('../bench/limits.js') },
  overhead: { summary: 'gateway vs direct-to-upstream (and nginx): added latency, throughput, CPU/request', load: () => import('../bench/overhead.js') },
  masking: { summary: 'credential masking of responses: set-up and scan per request vs one search for the key', load: () => import('../bench/masking.js') },
  load: { summary: 'load harness vs a fast upstream: open-loop RPS and concurrent streams with schedule lag', load: () => import('../bench/load.js') },
  scale: { summary: '1 vs 2 workers (throughput, added latency, CPU/request) and the CFS throttling trap in a 1-core cgroup', load: () => import('../bench/scale.js') },
  mcp: { summary: 'MCP gateway vs the MCP server directly: added latency per tool call and per new session', load: () => import('../bench/mcp.js') },
  picker: { summary: 'InferencePool: round robin vs least-request vs the endpoint picker on 4 simulated vLLM replicas', load: () => import('../bench/picker.js') },
  chaos: { summary: 'soak under simulator faults: clear ends, complete ledger, flat RSS and handles (10 min)', load: () => import('../bench/chaos.js') },
};

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const names = Object.keys(BENCHES);
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(
      `tollgate bench <name> [flags]: benchmarks that print ratios against a baseline measured in the same run\n\n` +
        names.map((n) => `  ${n.padEnd(10)} ${BENCHES[n]?.summary ?? ''}`).join('\n') +
        '\n',
    );
    return name === undefined ? 2 : 0;
  }
  const entry = BENCHES[name];
  if (entry === undefined) throw new UsageError(`unknown benchmark "${name}"`, `one of: ${names.join(', ')}`);
  return (await entry.load()).run(rest);
}
