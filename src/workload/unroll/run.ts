// `tollgate unroll`: streams dataset records into one corpus stream. Each assistant turn becomes a
// standalone request whose messages are the whole history before it, its expected output the
// length of that turn. Bad records are counted with their location and reason (and listed in
// `<stream>/bad-records.jsonl`); they stop the run only with --strict.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ChatMessage } from '../../protocol/openai.js';
import { loadTokenizer } from '../../tokenizer/index.js';
import type { Layout } from '../envelope.js';
import { CorpusError, rebuildManifest, SIDECAR_FILE, type BadRecordSummary, type Manifest, type StreamRecord } from '../manifest.js';
import { Rng, sample, seedOf, type Dist } from '../random.js';
import { DEFAULT_PROFILES } from '../synth/profiles.js';
import { systemPrompt } from '../synth/session.js';
import { TextGen, WORDS } from '../synth/text.js';
import { TokenCounter } from '../tokens.js';
import { checkMessages, checkTools } from '../validate.js';
import { StreamWriter, type SessionSpec, type TurnSpec } from '../writer.js';
import { extract, type Conversation, type FormatContext, type MooncakeBuilder, type UnrollFormat } from './formats.js';
import { ByteCounter, fileLabel, inputKind, jsonlRecords, jsonRecords, parquetRecords, readText, type RecordResult } from './input.js';
import { idSource, normalize, RecordRejected, Repairs, type FunctionRole } from './normalize.js';

export interface UnrollOptions {
  readonly format: UnrollFormat;
  readonly inputs: readonly string[];
  readonly out: string;
  readonly profile: string;
  readonly app: string;
  readonly streamName: string;
  readonly model: string;
  readonly layout: Layout;
  readonly stream: boolean;
  readonly functionRole: FunctionRole;
  readonly think: Dist;
  readonly seed: number;
  readonly maxSessions?: number;
  readonly strict: boolean;
  readonly replace: boolean;
  readonly partBytes: number;
  readonly maxTokensField: 'max_tokens' | 'max_completion_tokens';
  readonly exactLength: boolean;
  readonly omniactRoot?: string;
  readonly screenTokens: number;
  readonly blockTokens: number;
  readonly atifMsPerToken: number;
  readonly progress?: (line: string) => void;
  readonly progressEveryMs?: number;
}

export interface UnrollResult {
  readonly manifest: Manifest;
  readonly record: StreamRecord;
  readonly inputBytes: number;
}

const MAX_EXAMPLES = 20;

/** Input files: files as given, directories searched for the format's files. */
export function expandInputs(format: UnrollFormat, inputs: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of inputs) {
    if (!existsSync(p)) throw new CorpusError(`input ${p} not found`);
    if (!statSync(p).isDirectory()) {
      out.push(p);
      continue;
    }
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir).sort()) {
        const full = join(dir, name);
        if (statSync(full).isDirectory()) walk(full);
        else if (wanted(format, name)) found.push(full);
      }
    };
    walk(p);
    if (found.length === 0) throw new CorpusError(`no ${format} input files under ${p}`, hintFor(format));
    out.push(...found);
  }
  return out;
}

function wanted(format: UnrollFormat, name: string): boolean {
  const n = name.toLowerCase();
  switch (format) {
    case 'atif':
      return n === 'trajectory.json' || n.endsWith('.trajectory.json');
    case 'omniact':
      return /^task.*\.txt$/.test(n);
    case 'toolbench':
    case 'sharegpt':
    case 'openai':
    case 'swe-rebench':
    case 'coderforge':
    case 'mooncake':
      return /\.(jsonl|ndjson|json|parquet)(\.gz)?$/.test(n);
  }
}

function hintFor(format: UnrollFormat): string {
  switch (format) {
    case 'atif':
      return 'ATIF trajectories are files named trajectory.json (Harbor writes one per trial)';
    case 'omniact':
      return 'give the split file (train.json / test.json) with --omniact-root, or folders of task_*.txt files';
    case 'toolbench':
    case 'sharegpt':
    case 'openai':
    case 'swe-rebench':
    case 'coderforge':
    case 'mooncake':
      return 'inputs are .jsonl, .json, .parquet (optionally .gz) files';
  }
}

/** Mooncake blocks: `blockTokens` one-token words per hash id, so prompts share exactly the blocks their traces share. */
function mooncakeBuilder(counter: TokenCounter, blockTokens: number): MooncakeBuilder {
  const vocab = [...new Set(WORDS)].filter((w) => /^[a-z]+$/.test(w) && counter.count(` ${w}`) === 1);
  const words = (rng: Rng, n: number): string => {
    let s = '';
    for (let i = 0; i < n; i++) s += ' ' + vocab[rng.int(vocab.length)]!;
    return s;
  };
  // The chat template adds perReply + perMessage + the role word around the content.
  const overhead = counter.count('user') + 3 + 2;
  return {
    build(inputTokens, hashIds, lineSeed) {
      let need = Math.max(1, inputTokens - overhead);
      let s = '';
      for (const h of hashIds) {
        if (need <= 0) break;
        const n = Math.min(need, blockTokens);
        s += words(new Rng(seedOf('mooncake-block', h)), n);
        need -= n;
      }
      if (need > 0) s += words(new Rng(seedOf('mooncake-tail', lineSeed)), need);
      return s;
    },
  };
}

function normalizeTools(tools: unknown, repairs: Repairs): unknown[] | undefined {
  if (tools === undefined || tools === null || tools === '') return undefined;
  let list: unknown = tools;
  if (typeof tools === 'string') {
    try {
      list = JSON.parse(tools) as unknown;
    } catch {
      repairs.add('tools_dropped');
      return undefined;
    }
  }
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const wrapped: unknown[] = (list as unknown[]).map((t: unknown): unknown => {
    if (typeof t !== 'object' || t === null) return t;
    const o = t as Record<string, unknown>;
    if (o['function'] !== undefined) return { type: 'function', function: o['function'] };
    return { type: 'function', function: o };
  });
  if (checkTools(wrapped).length > 0) {
    repairs.add('tools_dropped');
    return undefined;
  }
  return wrapped;
}

export async function runUnroll(opts: UnrollOptions): Promise<UnrollResult> {
  const files = expandInputs(opts.format, opts.inputs);
  if (!opts.replace && existsSync(join(opts.out, opts.streamName, SIDECAR_FILE))) {
    throw new CorpusError(`${opts.out} already has a stream named "${opts.streamName}"`, 'pass --replace to overwrite it, or --stream NAME to add another');
  }
  const totalBytes = files.reduce((a, f) => a + statSync(f).size, 0);
  const counter = new TokenCounter(await loadTokenizer('o200k_harmony'));
  const writer = new StreamWriter({
    dir: opts.out,
    name: opts.streamName,
    profile: opts.profile,
    app: opts.app,
    source: `unroll:${opts.format}`,
    layout: opts.layout,
    model: opts.model,
    stream: opts.stream,
    partBytes: opts.partBytes,
    maxTokensField: opts.maxTokensField,
    exactLength: opts.exactLength,
    counter,
    generator: { command: 'unroll', format: opts.format, inputs: files.map((f) => basename(f)), function_role: opts.functionRole, think: opts.think, seed: opts.seed },
  });
  const omniactProfile = DEFAULT_PROFILES.find((p) => p.kind === 'omniact');
  const ctxBase = {
    ...(opts.omniactRoot === undefined ? {} : { omniactRoot: opts.omniactRoot }),
    atifMsPerToken: opts.atifMsPerToken,
    mooncake: mooncakeBuilder(counter, opts.blockTokens),
    omniactScreen: (taskId: string) => new TextGen(new Rng(seedOf(opts.seed, 'omniact-screen', taskId))).uiElements(opts.screenTokens),
    omniactSystem: omniactProfile === undefined ? '' : systemPrompt(omniactProfile, opts.seed),
  };

  const repairs = new Repairs();
  const byReason: Record<string, number> = {};
  const examples: Array<{ at: string; reason: string }> = [];
  const badLines: string[] = [];
  let badCount = 0;
  const bad = (at: string, reason: string): void => {
    if (opts.strict) throw new CorpusError(`${at}: ${reason}`, 'without --strict, bad records are counted and skipped');
    badCount++;
    const key = reason.replace(/\d+/g, 'N').replace(/"[^"]*"/g, '"…"').slice(0, 120);
    byReason[key] = (byReason[key] ?? 0) + 1;
    if (examples.length < MAX_EXAMPLES) examples.push({ at, reason });
    if (badLines.length < 100_000) badLines.push(JSON.stringify({ at, reason }));
  };

  const bytes = new ByteCounter();
  const started = Date.now();
  let lastReport = started;
  const every = opts.progressEveryMs ?? 2000;
  const report = (force: boolean): void => {
    if (opts.progress === undefined) return;
    const now = Date.now();
    if (!force && now - lastReport < every) return;
    lastReport = now;
    const secs = Math.max(0.001, (now - started) / 1000);
    opts.progress(
      `unroll: ${(bytes.bytes / 1e6).toFixed(0)}/${(totalBytes / 1e6).toFixed(0)} MB (${totalBytes === 0 ? 100 : Math.min(100, (100 * bytes.bytes) / totalBytes).toFixed(0)}%), ` +
        `${(bytes.bytes / 1e6 / secs).toFixed(1)} MB/s, ${writer.sessionCount} sessions, ${writer.requestCount} requests, ${badCount} bad`,
    );
  };

  let done = false;
  for (const file of files) {
    if (done) break;
    const ctx: FormatContext = { ...ctxBase, file };
    for await (const rec of records(file, opts.format, bytes)) {
      if (!rec.ok) {
        bad(rec.at, rec.reason);
        continue;
      }
      let convs: Conversation[];
      try {
        convs = extract(opts.format, rec.value, ctx);
      } catch (err) {
        if (!(err instanceof RecordRejected)) throw err;
        bad(rec.at, err.reason);
        continue;
      }
      for (const conv of convs) {
        const at = rec.at + (conv.at ?? '');
        if (conv.rejected !== undefined) {
          bad(at, conv.rejected);
          continue;
        }
        let spec: SessionSpec;
        try {
          spec = buildSpec(conv, at, opts, writer.sessionCount, counter, repairs);
        } catch (err) {
          if (!(err instanceof RecordRejected)) throw err;
          bad(at, err.reason);
          continue;
        }
        writer.writeSession(spec);
        if (opts.maxSessions !== undefined && writer.sessionCount >= opts.maxSessions) {
          done = true;
          break;
        }
      }
      if (done) break;
      report(false);
    }
  }
  const summary: BadRecordSummary = { count: badCount, by_reason: byReason, examples, repairs: repairs.counts };
  const record = writer.finish(summary);
  writeFileSync(join(opts.out, opts.streamName, 'bad-records.jsonl'), badLines.length === 0 ? '' : badLines.join('\n') + '\n');
  report(true);
  if (record.sessions === 0) {
    throw new CorpusError(`no usable session in ${files.length} input file(s): ${badCount} bad record(s)${examples[0] === undefined ? '' : `, e.g. ${examples[0].at}: ${examples[0].reason}`}`, hintFor(opts.format));
  }
  return { manifest: rebuildManifest(opts.out), record, inputBytes: bytes.bytes };
}

async function* records(file: string, format: UnrollFormat, bytes: ByteCounter): AsyncGenerator<RecordResult> {
  const kind = inputKind(file);
  switch (kind) {
    case 'jsonl':
      yield* jsonlRecords(file, bytes);
      return;
    case 'json':
      yield* jsonRecords(file, bytes);
      return;
    case 'parquet':
      yield* parquetRecords(file, bytes);
      return;
    case 'text':
      if (format === 'omniact') {
        yield { ok: true, value: await readText(file, bytes), at: fileLabel(file) };
        return;
      }
      // Unknown extension: JSON Lines is the common case for dumps.
      yield* jsonlRecords(file, bytes);
      return;
  }
}

function buildSpec(conv: Conversation, at: string, opts: UnrollOptions, si: number, counter: TokenCounter, repairs: Repairs): SessionSpec {
  const src = conv.id === undefined ? at : `${at} ${conv.id}`;
  const base = { src, ...(conv.atMs === undefined ? {} : { atMs: conv.atMs }) };
  if (conv.ready !== undefined) return { ...base, messages: conv.ready.messages, turns: conv.ready.turns };
  const raw = conv.raw ?? [];
  if (raw.length === 0) throw new RecordRejected('the conversation is empty');
  const norm = normalize(raw, opts.functionRole, idSource(`${si.toString(36)}`), repairs);
  const messages: ChatMessage[] = norm.messages;
  const rng = new Rng(seedOf(opts.seed, opts.streamName, si));
  const turns: TurnSpec[] = [];
  let sawPrompt = false;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role !== 'assistant') {
      if (m.role !== 'system' && m.role !== 'developer') sawPrompt = true;
      continue;
    }
    if (!sawPrompt) continue;
    const facts = norm.turnFacts.get(i);
    const first = turns.length === 0;
    turns.push({
      at: i,
      thinkMs: first ? 0 : (facts?.thinkMs ?? sample(opts.think, rng)),
      ...(facts?.outputTokens === undefined ? {} : { outputTokens: facts.outputTokens }),
      ...(facts?.reasoning === undefined ? {} : { extraOutputTokens: counter.count(facts.reasoning) }),
    });
  }
  if (turns.length === 0) throw new RecordRejected('no assistant turn follows a user message: nothing to replay');
  const lastAt = turns[turns.length - 1]!.at;
  const problems = checkMessages(messages.slice(0, lastAt));
  if (problems.length > 0) throw new RecordRejected(`not a valid conversation after normalisation: ${problems[0]!}`);
  const tools = normalizeTools(conv.tools, repairs);
  return { ...base, messages, turns, ...(tools === undefined ? {} : { tools }) };
}
