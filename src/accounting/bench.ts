// Benchmark of the gateway's own accounting: BPE throughput per encoding, what a finished request
// costs the event loop (record + ledger line), and how long the loop stalls while a large prompt
// is counted — by the worker, by the sliced main-thread counter, and (the baseline) by one
// synchronous count on the main thread. Run: node dist/accounting/bench.js [--mb N]
// (also `tollgate bench tokenizer` once registered in src/cli/bench.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { silentLogger } from '../core/log.js';
import type { RequestOutcome } from '../core/outcome.js';
import { makeUsage } from '../core/usage.js';
import { ENCODINGS, loadTokenizer } from '../tokenizer/index.js';
import { Accountant } from './accountant.js';
import { createCounter } from './counter.js';
import { LedgerWriter } from './ledger/writer.js';

/** Mixed text: prose, code and JSON, as agent prompts are. */
function corpus(chars: number): string {
  const parts = [
    'The gateway counts every token it forwards, so chargeback never depends on what a backend chooses to report. ',
    'function settle(reservation, actual) { return Math.max(0, reservation.tokens - actual.total); }\n',
    '{"role":"tool","tool_call_id":"call_42","content":"{\\"status\\":\\"ok\\",\\"rows\\":[1,2,3]}"}\n',
    'Über 数字 and émojis 😀 appear in real prompts too; 12345 67890.\n',
  ];
  let s = '';
  for (let i = 0; s.length < chars; i++) s += parts[i % parts.length] as string;
  return s.slice(0, chars);
}

function outcome(body: Record<string, unknown>, completion: string): RequestOutcome {
  return {
    requestId: 'bench',
    startedAt: Date.now(),
    operation: 'chat',
    method: 'POST',
    path: '/v1/chat/completions',
    httpVersion: '1.1',
    workload: 'bench-app',
    routeKey: 'default/r',
    ruleId: 'default/r/rule-0',
    backendKey: 'default/b',
    provider: 'openai',
    originalModel: 'gpt-4o-mini',
    requestModel: 'gpt-4o-mini',
    responseModel: 'gpt-4o-mini',
    stream: true,
    status: 200,
    errorCode: undefined,
    clientAborted: false,
    aborted: false,
    attempts: 1,
    usage: makeUsage({ input: 500, output: 250 }),
    requestBody: body,
    completionText: completion,
    completionOverflowChars: 0,
    auditSampled: undefined,
    durationMs: 1200,
    upstreamMs: 1198,
    ttfbMs: 80,
    requestBytes: 2100,
    responseBytes: 9000,
    generation: 1,
    trace: undefined,
    settleUsage: undefined,
  };
}

/** The median of three runs: this machine is shared, single runs are noisy. */
async function median3(f: () => Promise<number>): Promise<number> {
  const v = [await f(), await f(), await f()].sort((a, b) => a - b);
  return v[1] as number;
}

async function stallWhile(work: () => Promise<unknown>): Promise<number> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  // Keep the loop busy with timers so a stall shows up as delay.
  let go = true;
  const tick = (): void => {
    if (go) setTimeout(tick, 1);
  };
  tick();
  await work();
  go = false;
  h.disable();
  return h.max / 1e6;
}

export async function run(argv: string[]): Promise<number> {
  const mbArg = argv.indexOf('--mb');
  const mb = mbArg === -1 ? 4 : Number(argv[mbArg + 1] ?? '4');
  const text = corpus(mb * 1024 * 1024);
  const out: string[] = [];
  out.push(`accounting benchmark (${mb} MiB of mixed prose/code/JSON per encoding)\n`);

  out.push('BPE throughput, one thread:');
  for (const enc of ENCODINGS) {
    const tok = await loadTokenizer(enc);
    tok.count(text.slice(0, 100_000)); // warm the rank caches
    const t0 = performance.now();
    const n = tok.count(text);
    const s = (performance.now() - t0) / 1000;
    out.push(`  ${enc.padEnd(14)} ${(n / s / 1e6).toFixed(2)} M tokens/s  ${(text.length / s / 1e6).toFixed(1)} M chars/s  (${n.toLocaleString('en-US')} tokens)`);
  }

  // Through the counters: the same text as 1,000-char pieces of many requests.
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += 8192) pieces.push(text.slice(i, i + 8192));
  for (const threads of [1, 0]) {
    const c = createCounter({ threads });
    await c.count('o200k_base', { constant: 0, texts: ['warm up'] });
    const t0 = performance.now();
    const counts = await Promise.all(pieces.map((p) => c.count('o200k_base', { constant: 0, texts: [p] })));
    const s = (performance.now() - t0) / 1000;
    out.push(`  counter (${c.mode.padEnd(6)})   ${(counts.reduce((a, b) => a + b, 0) / s / 1e6).toFixed(2)} M tokens/s over ${pieces.length} jobs of 8 KiB`);
    await c.close();
  }

  // Event-loop stall while one 400 kB prompt is counted.
  const big = text.slice(0, 400_000);
  const tok = await loadTokenizer('o200k_base');
  out.push('\nlongest event-loop stall while a 400 kB prompt is counted (median of 3):');
  const sync = await median3(() =>
    stallWhile(async () => {
      await new Promise((r) => setTimeout(r, 5));
      tok.count(big);
      await new Promise((r) => setTimeout(r, 5));
    }),
  );
  const idle = await median3(() => stallWhile(() => new Promise((r) => setTimeout(r, 100))));
  out.push(`  nothing counted (this machine's noise floor) ${idle.toFixed(1)} ms`);
  out.push(`  synchronous on the main thread (baseline)  ${sync.toFixed(1)} ms`);
  for (const threads of [0, 1]) {
    const c = createCounter({ threads });
    await c.count('o200k_base', { constant: 0, texts: ['warm up'] });
    const stall = await median3(() => stallWhile(() => c.count('o200k_base', { constant: 0, texts: [big] })));
    out.push(`  ${threads === 1 ? 'worker thread (default)                  ' : 'main thread in slices (--count-threads 0)'}  ${stall.toFixed(1)} ms`);
    await c.close();
  }

  // What a finished request costs the event loop synchronously (the count itself runs later).
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: text.slice(0, 1500) }, { role: 'user', content: text.slice(1500, 2000) }] };
  const o = outcome(body, text.slice(2000, 3000));
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  out.push('\nevent-loop time per finished request (record, ledger line; counting excluded; median of 3):');
  for (const withLedger of [false, true]) {
    const ledger = withLedger ? LedgerWriter.open(dir) : undefined;
    const acct = new Accountant({ logger: silentLogger, ledger, counter: { threads: 1 } });
    const n = 10_000;
    for (let i = 0; i < 1000; i++) acct.requestFinished(o, undefined);
    await acct.idle();
    const us = await median3(async () => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) acct.requestFinished(o, undefined);
      const v = ((performance.now() - t0) * 1000) / n;
      await acct.idle();
      return v;
    });
    out.push(`  ${withLedger ? 'with the ledger (one write(2) now, one when counted)' : 'without a ledger                                   '}  ${us.toFixed(1)} µs/request`);
    await acct.close();
  }
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

// `node dist/accounting/bench.js` runs it directly.
if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) {
  run(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
