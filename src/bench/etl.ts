// `npm run bench:etl`: unroll throughput in MB of input per second on one core, against the floor
// any ETL pays on the same file in the same run (read it, split records, JSON.parse each), and
// peak memory on two input sizes (constant memory means the larger input does not need more).
// Every thread of the process (V8's GC helpers and libuv's pool included) is pinned to one core,
// so "MB/s on one core" is what is measured.
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { parseCommandArgs, parsePositiveInt } from '../cli/args.js';
import type { ChatMessage } from '../protocol/openai.js';
import { DEFAULT_PROFILES } from '../workload/synth/profiles.js';
import { buildSession, systemPrompt } from '../workload/synth/session.js';
import { FORMAT_DEFAULTS, type UnrollFormat } from '../workload/unroll/formats.js';
import { ByteCounter, jsonlRecords, jsonRecords } from '../workload/unroll/input.js';
import { runUnroll } from '../workload/unroll/run.js';
import { pinSelf } from './procs.js';

const spec = {
  name: 'bench etl',
  summary: 'unroll throughput (MB/s of input) and memory',
  usage: 'tollgate bench etl [--mb N] [--keep]\n\n  --mb N   size of the larger generated input per format (default 200)\n  --keep   keep the generated files',
  options: { mb: { type: 'string' }, keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
} as const;

async function writeInput(path: string, format: 'swe-rebench' | 'toolbench', targetBytes: number): Promise<number> {
  const profile = DEFAULT_PROFILES.find((p) => p.name === (format === 'toolbench' ? 'toolbench' : 'swe-rebench'))!;
  const system = systemPrompt(profile, 99);
  const out = createWriteStream(path);
  let bytes = 0;
  let si = 0;
  const write = (s: string): Promise<void> | undefined => {
    bytes += Buffer.byteLength(s);
    return out.write(s) ? undefined : new Promise((r) => out.once('drain', r));
  };
  if (format === 'toolbench') await write('[\n');
  while (bytes < targetBytes) {
    const s = buildSession(profile, 99, si, system, 1);
    let rec: string;
    if (format === 'swe-rebench') {
      rec = JSON.stringify({ trajectory_id: `bench-${si}`, instance_id: `bench__repo-${si}`, trajectory: s.messages, tools: [] }) + '\n';
    } else {
      // ToolBench's legacy shape: from/value, tool results as the `function` role.
      const conv = s.messages.map((m: ChatMessage) => ({
        from: m.role === 'tool' ? 'function' : m.role,
        value: (typeof m.content === 'string' ? m.content : '') + (m.tool_calls === undefined ? '' : `\nAction: ${m.tool_calls[0]?.function.name ?? ''}\nAction Input: ${m.tool_calls[0]?.function.arguments ?? ''}`),
      }));
      rec = (si === 0 ? '' : ',\n') + JSON.stringify({ id: `bench-${si}`, conversations: conv });
    }
    const p = write(rec);
    if (p !== undefined) await p;
    si++;
  }
  if (format === 'toolbench') await write('\n]\n');
  out.end();
  await finished(out);
  return statSync(path).size;
}

async function floor(path: string, format: 'swe-rebench' | 'toolbench'): Promise<number> {
  const counter = new ByteCounter();
  const t0 = performance.now();
  let n = 0;
  for await (const r of format === 'toolbench' ? jsonRecords(path, counter) : jsonlRecords(path, counter)) if (r.ok) n++;
  const s = (performance.now() - t0) / 1000;
  if (n === 0) throw new Error('no records');
  return statSync(path).size / 1e6 / s;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(`${spec.usage}\n`);
    return 0;
  }
  const mb = values.mb === undefined ? 200 : parsePositiveInt(values.mb, '--mb');
  const pinned = pinSelf();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-etl-'));
  const rows: Array<Record<string, string | number>> = [];
  try {
    for (const format of ['swe-rebench', 'toolbench'] as const) {
      for (const size of [Math.max(1, Math.round(mb / 4)), mb]) {
        const input = join(dir, `${format}-${size}.${format === 'toolbench' ? 'json' : 'jsonl'}`);
        process.stderr.write(`bench etl: generating ${size} MB of ${format} input…\n`);
        const bytes = await writeInput(input, format, size * 1e6);
        const base = await floor(input, format);
        for (const layout of ['delta', 'full'] as const) {
          if (layout === 'full' && size !== mb) continue;
          const out = join(dir, `out-${format}-${size}-${layout}`);
          const d = FORMAT_DEFAULTS[format as UnrollFormat];
          const rssBefore = process.memoryUsage().rss;
          let peak = rssBefore;
          const timer = setInterval(() => {
            peak = Math.max(peak, process.memoryUsage().rss);
          }, 50);
          const t0 = performance.now();
          const r = await runUnroll({
            format, inputs: [input], out, profile: d.profile, app: d.app, streamName: d.app, model: 'gpt-oss-120b', layout, stream: true,
            functionRole: 'user', think: d.think, seed: 1, strict: false, replace: true, partBytes: 256 << 20, maxTokensField: 'max_tokens',
            exactLength: false, screenTokens: 1100, blockTokens: 512, atifMsPerToken: 20,
          });
          const secs = (performance.now() - t0) / 1000;
          clearInterval(timer);
          peak = Math.max(peak, process.memoryUsage().rss);
          const mbps = bytes / 1e6 / secs;
          rows.push({
            format, layout, input_mb: Math.round(bytes / 1e6), seconds: +secs.toFixed(2), mb_per_s: +mbps.toFixed(1),
            floor_mb_per_s: +base.toFixed(1), ratio_to_floor: +(mbps / base).toFixed(3), sessions: r.record.sessions, requests: r.record.requests,
            output_mb: Math.round(r.record.bytes / 1e6), peak_rss_mb: Math.round(peak / 1e6),
          });
          rmSync(out, { recursive: true, force: true });
        }
      }
    }
  } finally {
    if (values.keep !== true) rmSync(dir, { recursive: true, force: true });
  }
  const cols = Object.keys(rows[0] ?? {});
  process.stdout.write(cols.join('\t') + '\n' + rows.map((r) => cols.map((c) => String(r[c])).join('\t')).join('\n') + '\n');
  process.stdout.write(JSON.stringify({ bench: 'etl', target_mb_per_s: 50, pinned_to_one_core: pinned, rows }) + '\n');
  return 0;
}
