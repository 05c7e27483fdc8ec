import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/protocol/openai.js';
import { FORMAT_DEFAULTS, type UnrollFormat } from '../../src/workload/unroll/formats.js';
import { runUnroll, type UnrollOptions } from '../../src/workload/unroll/run.js';
import { checkCorpus, FIXTURES, readAll, tempDir } from './helpers.js';

function options(format: UnrollFormat, inputs: string[], out: string, extra: Partial<UnrollOptions> = {}): UnrollOptions {
  const d = FORMAT_DEFAULTS[format];
  return {
    format, inputs, out, profile: d.profile, app: d.app, streamName: d.app, model: 'gpt-oss-120b', layout: 'delta', stream: true,
    functionRole: 'user', think: d.think, seed: 1, strict: false, replace: false, partBytes: 1 << 28, maxTokensField: 'max_tokens',
    exactLength: false, screenTokens: 300, blockTokens: 512, atifMsPerToken: 20, ...extra,
  };
}

const messagesOf = (body: Buffer): ChatMessage[] => (JSON.parse(body.toString()) as { messages: ChatMessage[] }).messages;

describe('tollgate unroll', () => {
  it('ToolBench: one request per assistant turn, legacy function role mapped to user by default', async () => {
    const out = tempDir('tb');
    const r = await runUnroll(options('toolbench', [join(FIXTURES, 'toolbench.json')], out));
    expect([r.record.sessions, r.record.requests]).toEqual([2, 5]);
    expect(r.record.bad_records.count).toBe(1);
    expect(r.record.bad_records.examples[0]).toEqual({ at: 'toolbench.json#2', reason: 'no "conversations" array' });
    const sessions = await checkCorpus(out);
    const second = sessions[0]!.turns[1]!;
    const msgs = messagesOf(second.body);
    expect(msgs.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    // The function result keeps its bytes, only the role changes.
    expect(msgs[3]!.content).toContain("'temp_c': 21.0");
    // Expected output of a turn is that turn's own length.
    expect(second.meta.output_tokens).toBeGreaterThan(20);
  });

  it('ToolBench with --function-role tool: tool messages paired with generated tool_call_ids', async () => {
    const out = tempDir('tb-tool');
    const r = await runUnroll(options('toolbench', [join(FIXTURES, 'toolbench.json')], out, { functionRole: 'tool' }));
    expect(r.record.bad_records.repairs['function_to_tool']).toBe(4);
    const sessions = await checkCorpus(out);
    const msgs = messagesOf(sessions[1]!.turns[2]!.body);
    expect(msgs.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant', 'tool']);
    expect(msgs[2]!.tool_calls?.[0]?.function.name).toBe('convert_for_currencyapi');
    expect(msgs[2]!.tool_calls?.[0]?.function.arguments).toContain('"EUR"');
    expect(msgs[3]!.tool_call_id).toBe(msgs[2]!.tool_calls?.[0]?.id);
  });

  it('ShareGPT: human/gpt roles, non-ASCII text, bad roles reported', async () => {
    const out = tempDir('sg');
    const r = await runUnroll(options('sharegpt', [join(FIXTURES, 'sharegpt.json')], out));
    expect([r.record.sessions, r.record.requests, r.record.bad_records.count]).toEqual([2, 3, 2]);
    expect(r.record.bad_records.examples.map((e) => e.at)).toEqual(['sharegpt.json#2', 'sharegpt.json#3']);
    await checkCorpus(out);
  });

  it('OpenAI JSONL: tool calls with object arguments, legacy function_call, missing tool result repaired, bad JSON line located', async () => {
    const out = tempDir('oa');
    const r = await runUnroll(options('openai', [join(FIXTURES, 'openai.jsonl')], out));
    expect(r.record.sessions).toBe(3);
    expect(r.record.bad_records.examples).toEqual([{ at: 'openai.jsonl:3', reason: expect.stringMatching(/^invalid JSON/) }]);
    expect(r.record.bad_records.repairs).toMatchObject({ missing_tool_result: 1, function_call_converted: 1, function_to_user: 1 });
    const sessions = await checkCorpus(out);
    const body = JSON.parse(sessions[0]!.turns[2]!.body.toString()) as { tools: unknown[]; messages: ChatMessage[] };
    expect(body.tools).toHaveLength(2);
    expect(body.messages[5]!.content).toBe('21:00 please.');
  });

  it('ATIF: agent steps are requests, think times from step timestamps, output from step metrics', async () => {
    const out = tempDir('atif');
    const r = await runUnroll(options('atif', [join(FIXTURES, 'atif')], out));
    expect(r.record.requests).toBe(3);
    const [s] = await checkCorpus(out);
    expect(s!.turns.map((t) => t.meta.think_ms)).toEqual([0, 12_000 - 50 * 20, 5000 - 25 * 20]);
    expect(s!.turns.map((t) => t.meta.output_tokens)).toEqual([100, 50, 25]);
    const msgs = messagesOf(s!.turns[2]!.body);
    expect(msgs.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant', 'tool', 'user']);
  });

  it('SWE-rebench JSONL and CoderForge Parquet (messages and tools as JSON strings)', async () => {
    const out = tempDir('swe');
    const a = await runUnroll(options('swe-rebench', [join(FIXTURES, 'swe-rebench.jsonl')], out));
    expect([a.record.sessions, a.record.requests, a.record.bad_records.count]).toEqual([1, 4, 1]);
    const b = await runUnroll(options('coderforge', [join(FIXTURES, 'coderforge.parquet')], out));
    expect([b.record.sessions, b.record.requests, b.record.bad_records.count]).toEqual([2, 6, 1]);
    expect(b.record.bad_records.examples[0]?.at).toBe('coderforge.parquet#2');
    const sessions = await checkCorpus(out);
    const cf = sessions.find((s) => s.app === 'coderforge-ide')!;
    const body = JSON.parse(cf.turns[1]!.body.toString()) as { tools: unknown[]; messages: ChatMessage[] };
    expect(body.tools).toHaveLength(2);
    expect(body.messages.filter((m) => m.role === 'tool').every((m) => m.name === undefined)).toBe(true);
    expect(b.manifest.profiles['D']?.sessions).toBe(3);
  });

  it('OmniACT: single-turn task + screen prompts, OCR when present, a sized placeholder when not', async () => {
    const out = tempDir('omni');
    const r = await runUnroll(options('omniact', [join(FIXTURES, 'omniact', 'train.json')], out));
    expect([r.record.sessions, r.record.bad_records.count]).toEqual([2, 1]);
    const sessions = await checkCorpus(out);
    const first = messagesOf(sessions[0]!.turns[0]!.body);
    expect(first[1]!.content).toContain('"Women" at (412.5, 96)');
    expect(sessions[1]!.turns[0]!.meta.prompt_tokens).toBeGreaterThan(300);
    expect(sessions[0]!.turns[0]!.meta.output_tokens).toBeGreaterThan(10);
  });

  it('Mooncake: prompt tokens equal input_length, output equals output_length, shared hash blocks share prefixes', async () => {
    const out = tempDir('mc');
    const r = await runUnroll(options('mooncake', [join(FIXTURES, 'mooncake.jsonl')], out));
    expect(r.record.bad_records.count).toBe(1);
    const sessions = await checkCorpus(out);
    expect(sessions.map((s) => [s.turns[0]!.meta.prompt_tokens, s.turns[0]!.meta.output_tokens, s.turns[0]!.meta.at_ms])).toEqual([
      [1200, 52, 0], [1300, 40, 0], [700, 12, 3052],
    ]);
    const a = messagesOf(sessions[0]!.turns[0]!.body)[0]!.content as string;
    const b = messagesOf(sessions[1]!.turns[0]!.body)[0]!.content as string;
    let common = 0;
    while (a[common] === b[common]) common++;
    const shared = a.slice(0, common).split(' ').length - 1;
    expect(shared).toBeGreaterThanOrEqual(2 * 512 - 1);
    expect(shared).toBeLessThan(2 * 512 + 5);
  });

  it('--strict stops at the first bad record and names it', async () => {
    await expect(runUnroll(options('toolbench', [join(FIXTURES, 'toolbench.json')], tempDir('strict'), { strict: true }))).rejects.toThrow(/toolbench\.json#2: no "conversations" array/);
  });

  it('streams a large JSON array and JSONL without holding it (records counted, locations exact)', async () => {
    const dir = tempDir('big');
    const rec = JSON.parse(readFileSync(join(FIXTURES, 'toolbench.json'), 'utf8'))[0] as unknown;
    const n = 400;
    writeFileSync(join(dir, 'big.json'), `[\n${Array.from({ length: n }, () => JSON.stringify(rec)).join(',\n')}\n]`);
    const r = await runUnroll(options('toolbench', [join(dir, 'big.json')], join(dir, 'out')));
    expect(r.record.sessions).toBe(n);
    expect(r.inputBytes).toBeGreaterThan(n * 1000);
  });

  it('a deliberately low-cardinality corpus reports a high prefix-cache hit rate', async () => {
    const dir = tempDir('lowcard');
    const lines = readFileSync(join(FIXTURES, 'swe-rebench.jsonl'), 'utf8').split('\n').slice(0, 1);
    // The same session looped 200 times, as a lazy load test would.
    writeFileSync(join(dir, 'loop.jsonl'), Array.from({ length: 200 }, () => lines[0]).join('\n'));
    const r = await runUnroll(options('swe-rebench', [join(dir, 'loop.jsonl')], join(dir, 'out')));
    expect(r.record.prefix_cache.cross_session_hit_rate).toBeGreaterThan(0.9);
    expect(r.record.prefix_cache.hit_rate).toBeGreaterThan(0.9);
    const sessions = await readAll(join(dir, 'out'));
    expect(new Set(sessions.map((s) => s.sid)).size).toBe(200);
  });
});
