// One reader per dataset format: a record (a parsed JSON value or Parquet row) in, conversations
// out. Field names follow the public formats: ToolBench and ShareGPT `conversations[{from,value}]`,
// OpenAI `messages`, Harbor's ATIF `steps` (Terminal-Bench 2.0 `trajectory.json`), SWE-rebench
// OpenHands trajectories (`trajectory`, `tools`), CoderForge (`messages` and `tools` as JSON
// strings), OmniACT split files and task files, and Mooncake traces (lengths and block hashes).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { ChatMessage } from '../../protocol/openai.js';
import type { Dist } from '../random.js';
import type { TurnSpec } from '../writer.js';
import { RecordRejected, type RawMessage } from './normalize.js';

export type UnrollFormat = 'toolbench' | 'sharegpt' | 'openai' | 'atif' | 'swe-rebench' | 'coderforge' | 'omniact' | 'mooncake';
export const FORMATS: readonly UnrollFormat[] = ['toolbench', 'sharegpt', 'openai', 'atif', 'swe-rebench', 'coderforge', 'omniact', 'mooncake'];

const HUMAN_THINK: Dist = { kind: 'lognormal', median: 8000, sigma: 1.0, max: 600_000 };

export const FORMAT_DEFAULTS: Readonly<Record<UnrollFormat, { profile: string; app: string; think: Dist }>> = {
  toolbench: { profile: 'A', app: 'toolbench-agent', think: { kind: 'lognormal', median: 3000, sigma: 1.0, max: 120_000 } },
  sharegpt: { profile: 'chat', app: 'sharegpt-chat', think: HUMAN_THINK },
  openai: { profile: 'chat', app: 'openai-chat', think: HUMAN_THINK },
  atif: { profile: 'B', app: 'terminal-bench-ci', think: { kind: 'lognormal', median: 5000, sigma: 1.2, max: 300_000 } },
  'swe-rebench': { profile: 'D', app: 'swe-rebench-ide', think: { kind: 'lognormal', median: 4500, sigma: 1.0, max: 300_000 } },
  coderforge: { profile: 'D', app: 'coderforge-ide', think: { kind: 'lognormal', median: 4500, sigma: 1.0, max: 300_000 } },
  omniact: { profile: 'C', app: 'omniact-ui', think: { kind: 'const', value: 0 } },
  mooncake: { profile: 'trace', app: 'mooncake-trace', think: { kind: 'const', value: 0 } },
};

/** A conversation extracted from a record, before normalisation. */
export interface Conversation {
  readonly id?: string;
  readonly raw?: readonly RawMessage[];
  /** Already-built sessions (OmniACT, Mooncake): messages valid as they are. */
  readonly ready?: { readonly messages: ChatMessage[]; readonly turns: TurnSpec[] };
  readonly tools?: unknown;
  readonly atMs?: number;
  /** Appended to the record's location for sources with many sessions per record. */
  readonly at?: string;
  /** Set when one session of a multi-session record could not be read. */
  readonly rejected?: string;
}

export interface FormatContext {
  /** The input file the record came from. */
  readonly file: string;
  readonly omniactRoot?: string;
  readonly atifMsPerToken: number;
  readonly mooncake: MooncakeBuilder;
  readonly omniactScreen: (taskId: string) => string;
  readonly omniactSystem: string;
}

export interface MooncakeBuilder {
  build(inputTokens: number, hashIds: readonly number[], lineSeed: string): string;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RecordRejected(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function idOf(r: Record<string, unknown>, ...keys: string[]): string | undefined {
  for (const k of keys) {
    const v = r[k];
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number') return String(v);
  }
  return undefined;
}

/** A field that may hold a JSON array or a JSON string of one (CoderForge stores both ways). */
function arrayField(v: unknown, what: string): unknown[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      throw new RecordRejected(`${what} is a string but not JSON`);
    }
  }
  if (!Array.isArray(v)) throw new RecordRejected(`${what} is not an array`);
  return v as unknown[];
}

export function extract(format: UnrollFormat, value: unknown, ctx: FormatContext): Conversation[] {
  switch (format) {
    case 'toolbench':
    case 'sharegpt':
      return [conversations(value)];
    case 'openai':
      return [openaiMessages(value)];
    case 'swe-rebench':
    case 'coderforge':
      return [trajectory(value)];
    case 'atif':
      return [atif(value, ctx)];
    case 'omniact':
      return omniact(value, ctx);
    case 'mooncake':
      return [mooncake(value, ctx)];
  }
}

function conversations(value: unknown): Conversation {
  const r = obj(value, 'the record');
  const list = arrayField(r['conversations'] ?? r['conversation'] ?? r['messages'], 'conversations');
  if (list === undefined) throw new RecordRejected('no "conversations" array');
  const raw: RawMessage[] = list.map((t, i) => {
    const turn = obj(t, `conversations[${i}]`);
    const role = turn['from'] ?? turn['role'];
    if (typeof role !== 'string') throw new RecordRejected(`conversations[${i}] has no "from"`);
    return { role, content: turn['value'] ?? turn['content'], name: turn['name'] };
  });
  const id = idOf(r, 'id', 'query_id');
  return { ...(id === undefined ? {} : { id }), raw, tools: r['tools'] };
}

function messageList(list: unknown[]): RawMessage[] {
  return list.map((t, i) => {
    const m = obj(t, `messages[${i}]`);
    if (typeof m['role'] !== 'string') throw new RecordRejected(`messages[${i}] has no "role"`);
    const reasoning = m['reasoning_content'] ?? m['reasoning'];
    return {
      role: m['role'],
      content: m['content'],
      name: m['name'],
      tool_calls: m['tool_calls'],
      tool_call_id: m['tool_call_id'],
      function_call: m['function_call'],
      ...(typeof reasoning === 'string' && reasoning !== '' ? { reasoning } : {}),
    };
  });
}

function openaiMessages(value: unknown): Conversation {
  if (Array.isArray(value)) return { raw: messageList(value) };
  const r = obj(value, 'the record');
  const list = arrayField(r['messages'], 'messages');
  if (list === undefined) throw new RecordRejected('no "messages" array');
  const id = idOf(r, 'id', 'custom_id');
  return { ...(id === undefined ? {} : { id }), raw: messageList(list), tools: r['tools'] };
}

function trajectory(value: unknown): Conversation {
  const r = obj(value, 'the record');
  const list = arrayField(r['trajectory'] ?? r['messages'], 'trajectory');
  if (list === undefined) throw new RecordRejected('no "trajectory" or "messages"');
  const id = idOf(r, 'trajectory_id', 'instance_id', 'id');
  return { ...(id === undefined ? {} : { id }), raw: messageList(list), tools: r['tools'] };
}

function atifText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map((p) => (typeof p === 'object' && p !== null && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '')).join('');
  return v === undefined || v === null ? '' : JSON.stringify(v);
}

function atif(value: unknown, ctx: FormatContext): Conversation {
  const r = obj(value, 'the trajectory');
  const steps = arrayField(r['steps'], 'steps');
  if (steps === undefined) throw new RecordRejected('no "steps" array (is this an ATIF trajectory.json?)');
  const raw: RawMessage[] = [];
  let lastAgentTs: number | undefined;
  let seenNonSystem = false;
  steps.forEach((s, i) => {
    const step = obj(s, `steps[${i}]`);
    const source = step['source'];
    const text = atifText(step['message']);
    const ts = typeof step['timestamp'] === 'string' ? Date.parse(step['timestamp']) : NaN;
    if (source === 'system') {
      // Only a leading system step is a system prompt; later ones are environment notices.
      raw.push({ role: seenNonSystem ? 'user' : 'system', content: text });
    } else if (source === 'user') {
      seenNonSystem = true;
      raw.push({ role: 'user', content: text });
    } else if (source === 'agent') {
      seenNonSystem = true;
      const metrics = step['metrics'] as Record<string, unknown> | undefined;
      const completion = typeof metrics?.['completion_tokens'] === 'number' ? metrics['completion_tokens'] : undefined;
      const calls = Array.isArray(step['tool_calls'])
        ? (step['tool_calls'] as unknown[]).map((c, j) => {
            const call = obj(c, `steps[${i}].tool_calls[${j}]`);
            return { id: call['tool_call_id'], function: { name: call['function_name'], arguments: call['arguments'] } };
          })
        : undefined;
      let thinkMs: number | undefined;
      if (!Number.isNaN(ts) && lastAgentTs !== undefined) {
        // The gap between two agent steps holds the tool run, the client's pause and the model's
        // own latency; remove an estimate of the latter (generation time ∝ output tokens).
        thinkMs = Math.max(0, ts - lastAgentTs - (completion ?? 0) * ctx.atifMsPerToken);
      }
      if (!Number.isNaN(ts)) lastAgentTs = ts;
      const reasoning = typeof step['reasoning_content'] === 'string' ? step['reasoning_content'] : undefined;
      raw.push({
        role: 'assistant',
        content: text,
        tool_calls: calls,
        ...(thinkMs === undefined ? {} : { thinkMs }),
        ...(completion === undefined ? {} : { outputTokens: completion }),
        ...(reasoning === undefined ? {} : { reasoning }),
      });
      const obs = step['observation'] as Record<string, unknown> | undefined;
      const results = Array.isArray(obs?.['results']) ? (obs['results'] as unknown[]) : [];
      for (const res of results) {
        const o = obj(res, `steps[${i}].observation.results[]`);
        const id = o['source_call_id'];
        raw.push({ role: typeof id === 'string' && id !== '' ? 'tool' : 'function', content: atifText(o['content']), ...(typeof id === 'string' && id !== '' ? { tool_call_id: id } : {}) });
      }
    } else {
      throw new RecordRejected(`steps[${i}].source ${JSON.stringify(source)} is not system, user or agent`);
    }
  });
  const id = idOf(r, 'session_id', 'trajectory_id');
  const agent = r['agent'] as Record<string, unknown> | undefined;
  const tools = agent?.['tool_definitions'] ?? (r['extra'] as Record<string, unknown> | undefined)?.['tools'];
  return { ...(id === undefined ? {} : { id }), raw, tools };
}

/** OmniACT task file text: `Task: …` then `Output Script:` and the PyAutoGUI lines. */
export function parseOmniactTask(text: string): { task: string; script: string } {
  const t = /Task:\s*([\s\S]*?)\n\s*Output Script:\s*\n?([\s\S]*)$/i.exec(text);
  if (t === null) throw new RecordRejected('not an OmniACT task file (expected "Task:" then "Output Script:")');
  const task = t[1]?.trim() ?? '';
  const script = t[2]?.trim() ?? '';
  if (task === '' || script === '') throw new RecordRejected('the OmniACT task or its output script is empty');
  return { task, script };
}

function omniactScreenText(ocrPath: string | undefined): string | undefined {
  if (ocrPath === undefined || !existsSync(ocrPath)) return undefined;
  let ocr: unknown;
  try {
    ocr = JSON.parse(readFileSync(ocrPath, 'utf8'));
  } catch {
    return undefined;
  }
  const entries = (ocr as Record<string, unknown> | null)?.['ocr'] ?? ocr;
  if (typeof entries !== 'object' || entries === null) return undefined;
  const lines: string[] = [];
  let n = 0;
  for (const [label, pos] of Object.entries(entries as Record<string, unknown>)) {
    const xy = Array.isArray(pos) ? pos : [];
    lines.push(`[${n++}] "${label}" at (${String(xy[0] ?? '?')}, ${String(xy[1] ?? '?')})`);
  }
  return lines.length === 0 ? undefined : lines.join('\n');
}

function omniactSession(task: string, script: string, screen: string, system: string): { messages: ChatMessage[]; turns: TurnSpec[] } {
  return {
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: `Task: ${task}\n\nScreen elements:\n${screen}` },
      { role: 'assistant', content: script },
    ],
    turns: [{ at: 2, thinkMs: 0 }],
  };
}

function omniact(value: unknown, ctx: FormatContext): Conversation[] {
  if (typeof value === 'string') {
    const { task, script } = parseOmniactTask(value);
    return [{ id: ctx.file, ready: omniactSession(task, script, ctx.omniactScreen(ctx.file), ctx.omniactSystem) }];
  }
  // A split file (train.json / test.json / val.json): {"<id>": {"task": "data/tasks/…txt", "ocr": …}}.
  const r = obj(value, 'the OmniACT split file');
  const root = ctx.omniactRoot ?? dirname(ctx.file);
  const out: Conversation[] = [];
  for (const [key, entry] of Object.entries(r)) {
    try {
      const e = obj(entry, `entry ${key}`);
      if (typeof e['task'] !== 'string') throw new RecordRejected(`entry ${key} has no "task" path`);
      const taskPath = isAbsolute(e['task']) ? e['task'] : join(root, e['task']);
      if (!existsSync(taskPath)) throw new RecordRejected(`task file ${taskPath} not found (set --omniact-root to the dataset folder)`);
      const { task, script } = parseOmniactTask(readFileSync(taskPath, 'utf8'));
      const ocr = typeof e['ocr'] === 'string' ? (isAbsolute(e['ocr']) ? e['ocr'] : join(root, e['ocr'])) : undefined;
      const screen = omniactScreenText(ocr) ?? ctx.omniactScreen(`${key}:${e['task']}`);
      out.push({ id: key, at: `[${key}]`, ready: omniactSession(task, script, screen, ctx.omniactSystem) });
    } catch (err) {
      if (!(err instanceof RecordRejected)) throw err;
      out.push({ id: key, at: `[${key}]`, rejected: err.reason });
    }
  }
  return out;
}

function mooncake(value: unknown, ctx: FormatContext): Conversation {
  const r = obj(value, 'the trace line');
  const input = r['input_length'];
  const output = r['output_length'];
  if (typeof input !== 'number' || !Number.isInteger(input) || input < 1) throw new RecordRejected('input_length must be a positive integer');
  if (typeof output !== 'number' || !Number.isInteger(output) || output < 1) throw new RecordRejected('output_length must be a positive integer');
  const hashIds = r['hash_ids'] ?? [];
  if (!Array.isArray(hashIds) || hashIds.some((h) => typeof h !== 'number')) throw new RecordRejected('hash_ids must be an array of numbers');
  const ts = r['timestamp'];
  const content = ctx.mooncake.build(input, hashIds as number[], `${ctx.file}:${JSON.stringify(ts)}:${input}:${(hashIds as number[]).length}`);
  return {
    ready: { messages: [{ role: 'user', content }], turns: [{ at: 1, thinkMs: 0, outputTokens: output }] },
    ...(typeof ts === 'number' ? { atMs: ts } : {}),
  };
}
