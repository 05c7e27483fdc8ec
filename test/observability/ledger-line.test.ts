// The ledger line as written: one JSON object per record on one line, read back into the very same
// record; strings of any content escaped; lines of any size and script reach the file byte for byte
// through the writer's reused buffer, in order, each once.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWriter } from '../../src/accounting/ledger/writer.js';
import { readLedger } from '../../src/accounting/ledger/reader.js';
import { JsonLine } from '../../src/accounting/ledger/json-line.js';
import { recordFromJson, writeLedgerLine, type UsageRecord } from '../../src/accounting/record.js';
import { makeUsage } from '../../src/core/usage.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tollgate-ledger-line-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The record's line as text, from a fresh buffer each time. */
function ledgerLine(r: UsageRecord, final?: boolean): string {
  const out = new JsonLine();
  writeLedgerLine(out, r, final);
  return out.toString();
}

function rec(over: Partial<UsageRecord>): UsageRecord {
  return {
    key: 'k-1',
    requestId: 'req-1',
    startedAt: Date.parse('2026-12-07T08:00:00.123Z'),
    operation: 'chat',
    workload: 'app',
    apiKey: '',
    team: '',
    route: 'default/r',
    rule: 'default/r/rule-0',
    backend: 'default/b',
    provider: 'openai',
    originalModel: 'gpt-4o-mini',
    requestModel: 'gpt-4o-mini',
    responseModel: 'gpt-4o-mini-2024-07-18',
    stream: false,
    status: 200,
    errorCode: '',
    clientAborted: false,
    aborted: false,
    attempts: 1,
    backendUsage: makeUsage({ input: 12, output: 30 }),
    gatewayCount: undefined,
    usage: makeUsage({ input: 12, output: 30 }),
    usageSource: 'backend',
    cost: undefined,
    ttftMs: undefined,
    durationMs: 1.234,
    upstreamMs: 0.987,
    generation: 3,
    final: true,
    ...over,
  };
}

const AWKWARD = 'quote " backslash \\ newline \n tab \t nul \u0000 bell \u0007 é 漢字 😀 lone \udc00 end';

const VARIANTS: Array<[string, UsageRecord]> = [
  ['backend usage, no key', rec({})],
  ['a virtual key and team', rec({ apiKey: 'key-7', team: 'search' })],
  ['the gateway count, streamed, priced', rec({ stream: true, ttftMs: 0.5, gatewayCount: { encoding: 'o200k_base', input: 11, output: 31 }, cost: 0.00042 })],
  [
    'an error without usage',
    rec({ status: 502, errorCode: 'upstream_reset', backendUsage: undefined, usage: makeUsage({}), usageSource: 'none', upstreamMs: undefined, attempts: 3, aborted: true, clientAborted: true }),
  ],
  ['cached and reasoning tokens', rec({ usage: makeUsage({ input: 100, cachedInput: 40, cacheCreationInput: 5, output: 50, reasoning: 20 }) })],
  ['strings of any content', rec({ workload: AWKWARD, originalModel: AWKWARD, requestId: AWKWARD, apiKey: AWKWARD, team: AWKWARD })],
];

describe('ledger line', () => {
  it.each(VARIANTS)('%s: one line that reads back as the same record', (_, r) => {
    const line = ledgerLine(r);
    expect(line).not.toContain('\n');
    expect(recordFromJson(JSON.parse(line))).toEqual(r);
  });

  it('keeps the documented field order, and leaves out api_key and team without a key', () => {
    const keyed = Object.keys(JSON.parse(ledgerLine(rec({ apiKey: 'k', team: 't' }))) as object);
    expect(keyed).toEqual([
      'v',
      'key',
      'final',
      'request_id',
      'time',
      'operation',
      'workload',
      'api_key',
      'team',
      'route',
      'rule',
      'backend',
      'provider',
      'original_model',
      'request_model',
      'response_model',
      'stream',
      'status',
      'error_code',
      'client_aborted',
      'aborted',
      'attempts',
      'usage',
      'usage_source',
      'backend_usage',
      'gateway_count',
      'cost',
      'ttft_ms',
      'duration_ms',
      'upstream_ms',
      'generation',
    ]);
    const plain = Object.keys(JSON.parse(ledgerLine(rec({}))) as object);
    expect(plain).toEqual(keyed.filter((k) => k !== 'api_key' && k !== 'team'));
    expect(JSON.parse(ledgerLine(rec({}))).usage).toEqual({ input: 12, cached_input: 0, cache_creation_input: 0, output: 30, reasoning: 0, total: 42 });
  });

  it('writes the final flag it is given, and a non-finite number as null so the line still parses', () => {
    expect(JSON.parse(ledgerLine(rec({}), false)).final).toBe(false);
    const j = JSON.parse(ledgerLine(rec({ cost: Number.NaN, upstreamMs: Number.POSITIVE_INFINITY }))) as Record<string, unknown>;
    expect(j['cost']).toBeNull();
    expect(j['upstream_ms']).toBeNull();
  });
  it('writes every number as JSON.stringify does: whole ones digit by digit, any other through String', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(), fc.maxSafeNat(), fc.integer(), fc.double(), fc.constantFrom(0, -0, 9, 10, 99, 100, Number.MAX_SAFE_INTEGER, 2 ** 53, 1e21, -1)), (n) => {
        const out = new JsonLine();
        out.begin().num('n', n).end();
        expect(out.toString()).toBe(JSON.stringify({ n }));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('ledger writer', () => {
  it('puts every line in the file byte for byte, in order, once, whatever its size and script', async () => {
    const dir = join(work, 'writer');
    const w = LedgerWriter.open(dir);
    const expected: string[] = [];
    for (let i = 0; i < 600; i++) {
      // Short ASCII lines, multibyte ones, and every 50th one far larger than the reused buffer.
      const workload = i % 50 === 49 ? `big-${i}-${'ü漢😀x'.repeat(6000)}` : i % 3 === 0 ? `é漢字😀-${i}` : `app-${i}`;
      const line = ledgerLine(rec({ key: `k-${i}`, requestId: `req-${i}`, workload }));
      expected.push(line);
      w.appendRecord(rec({ key: `k-${i}`, requestId: `req-${i}`, workload }));
    }
    w.append(JSON.stringify({ type: 'mcp_tool_call', tool: 'search' }));
    const stats = w.stats();
    w.close();
    const files = await readdir(dir);
    expect(files.length).toBe(1);
    const bytes = await readFile(join(dir, files[0] as string));
    expect(stats.records).toBe(601);
    expect(stats.bytes).toBe(bytes.length);
    expect(bytes.toString('utf8')).toBe(`${expected.join('\n')}\n{"type":"mcp_tool_call","tool":"search"}\n`);
    const read: string[] = [];
    for await (const r of readLedger(dir)) read.push(r.key);
    expect(read).toEqual(expected.map((_, i) => `k-${i}`));
  });

  it('starts a new file when the UTC day changes, forward or back, and keeps one file within a day', async () => {
    const dir = join(work, 'days');
    let now = Date.parse('2026-12-07T23:59:59.000Z');
    const w = LedgerWriter.open(dir, { now: () => now });
    const at = (iso: string, key: string): void => {
      now = Date.parse(iso);
      w.appendRecord(rec({ key }));
    };
    at('2026-12-07T23:59:59.998Z', 'a'); // the day the file was opened on
    at('2026-12-07T00:00:00.000Z', 'b'); // same UTC day, its first millisecond
    at('2026-12-08T00:00:00.000Z', 'c'); // midnight: a new day
    at('2026-12-08T12:00:00.000Z', 'd');
    at('2026-12-07T12:00:00.000Z', 'e'); // the clock stepped back a day
    const files = w.stats().files;
    w.close();
    expect(files).toBe(3);
    const byFile: string[][] = [];
    for (const f of (await readdir(dir)).sort()) {
      const lines = (await readFile(join(dir, f))).toString('utf8').trim().split('\n');
      byFile.push(lines.map((l) => (JSON.parse(l) as { key: string }).key));
    }
    expect(byFile.map((keys) => keys.join(''))).toEqual(expect.arrayContaining(['ab', 'cd', 'e']));
  });

  it('with grouped writes, writes the lines appended in one pass together right after it, before whenWritten runs', async () => {
    const dir = join(work, 'grouped');
    const w = LedgerWriter.open(dir, { groupWrites: true });
    const file = w.stats().file;
    let ran = false;
    w.whenWritten(() => (ran = true));
    expect(ran).toBe(true); // nothing waiting: at once
    const expected = ['a', 'b', 'c'].map((key) => rec({ key, requestId: `req-${key}` }));
    for (const r of expected) w.appendRecord(r);
    expect(w.stats().records).toBe(0); // not yet: right after this pass
    expect(readFileSync(file).length).toBe(0);
    // Read in the callback itself: the lines must be in the file by then.
    const seen = await new Promise<string>((resolve) => w.whenWritten(() => resolve(readFileSync(file, 'utf8'))));
    expect(seen).toBe(`${expected.map((r) => ledgerLine(r)).join('\n')}\n`);
    expect(w.stats()).toMatchObject({ records: 3, bytes: Buffer.byteLength(seen), backlog: 0 });
    // close() writes what is still waiting.
    const last = rec({ key: 'd', requestId: 'req-d' });
    w.appendRecord(last);
    w.close();
    expect(await readFile(file, 'utf8')).toBe(`${seen}${ledgerLine(last)}\n`);
  });

  it('with grouped writes, a callback that throws is reported and the others still run', async () => {
    const errors: string[] = [];
    const w = LedgerWriter.open(join(work, 'grouped-throw'), { groupWrites: true, onError: (err, what) => errors.push(`${what}: ${err.message}`) });
    w.appendRecord(rec({ key: 'x' }));
    w.whenWritten(() => {
      throw new Error('boom');
    });
    await new Promise<void>((resolve) => w.whenWritten(resolve));
    expect(errors).toEqual(['callback: boom']);
    expect(w.stats().records).toBe(1);
    w.close();
  });

  // A real full disk needs a filesystem of its own: a small tmpfs, which only root may mount.
  for (const groupWrites of [false, true]) {
    it.skipIf(process.getuid?.() !== 0)(`loses nothing and writes nothing twice when the disk fills up mid-line and frees again${groupWrites ? ' (grouped writes)' : ''}`, async () => {
      const mnt = join(work, `small-disk-${groupWrites}`);
      await mkdir(mnt);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
      try {
        await writeFile(join(mnt, 'filler'), Buffer.alloc(200 * 1024));
        const dir = join(mnt, 'ledger');
        const w = LedgerWriter.open(dir, { onError: () => undefined, groupWrites });
        const expected: string[] = [];
        const add = (): void => {
          const r = rec({ key: `k-${expected.length}`, requestId: `req-${expected.length}`, workload: `app-${'w'.repeat(expected.length % 40)}` });
          expected.push(ledgerLine(r));
          w.appendRecord(r);
        };
        const written = (): Promise<void> => new Promise((resolve) => w.whenWritten(resolve));
        const file = w.stats().file;
        while (w.stats().writeErrors === 0) {
          add();
          await written();
        }
        // Refused while the disk is full, kept in memory: five lines, one write when grouped.
        for (let i = 0; i < 5; i++) add();
        await written();
        const inFile = (await readFile(file, 'utf8')).split('\n').length - 1;
        expect(w.stats().backlog).toBe(expected.length - inFile);
        expect(w.stats().records).toBe(inFile);
        await rm(join(mnt, 'filler'));
        add(); // the next write writes what was kept first, then itself
        await written();
        expect(w.stats()).toMatchObject({ backlog: 0, records: expected.length, dropped: 0 });
        w.close();
        const files = await readdir(dir);
        expect(files.length).toBe(1);
        const text = (await readFile(join(dir, files[0] as string))).toString('utf8');
        expect(text).toBe(`${expected.join('\n')}\n`);
      } finally {
        execFileSync('umount', [mnt]);
      }
    });
  }
});
