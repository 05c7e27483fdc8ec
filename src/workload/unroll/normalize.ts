// Turns the message lists found in datasets into conversations a strict OpenAI-compatible server
// accepts, keeping their bytes and token geometry: content parts become text, tool-call arguments
// become JSON strings, dataset-only fields are dropped, the legacy `function` role is mapped (to
// `user` by default, the whitepaper's fix, or to `tool` with generated call ids), and tool results
// that do not pair with a call are repaired. Every repair is counted; a record that cannot be made
// valid is rejected with a reason, never silently dropped.
import type { ChatMessage, ToolCall } from '../../protocol/openai.js';

export type FunctionRole = 'user' | 'tool';

/** A message as found in a dataset, before normalisation (roles may be legacy or dataset-specific). */
export interface RawMessage {
  role: string;
  content: unknown;
  name?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
  function_call?: unknown;
  /** Reasoning recorded alongside an assistant turn: counted as output, never sent back. */
  reasoning?: string;
  /** Per-turn facts from the source (think time, measured output tokens). */
  thinkMs?: number;
  outputTokens?: number;
}

export class RecordRejected extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}

export interface Normalized {
  readonly messages: ChatMessage[];
  /** For each assistant message index: facts carried over from the raw message. */
  readonly turnFacts: Map<number, { thinkMs?: number; outputTokens?: number; reasoning?: string }>;
}

export class Repairs {
  readonly counts: Record<string, number> = {};
  add(kind: string, n = 1): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + n;
  }
}

const ROLE_ALIASES: Readonly<Record<string, string>> = {
  system: 'system',
  developer: 'developer',
  user: 'user',
  human: 'user',
  assistant: 'assistant',
  gpt: 'assistant',
  chatgpt: 'assistant',
  bing: 'assistant',
  bard: 'assistant',
  model: 'assistant',
  tool: 'tool',
  function: 'function',
  observation: 'function',
  ipython: 'function',
};

export function canonicalRole(role: unknown): string | undefined {
  return typeof role === 'string' ? ROLE_ALIASES[role.toLowerCase()] : undefined;
}

/** Text of a content value: strings as is, text parts joined, anything else JSON. */
export function contentText(content: unknown, repairs: Repairs): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    let out = '';
    for (const part of content) {
      if (typeof part === 'string') out += part;
      else if (typeof part === 'object' && part !== null) {
        const p = part as Record<string, unknown>;
        if (typeof p['text'] === 'string') out += p['text'];
        else if (p['type'] === 'image_url' || p['type'] === 'image' || p['type'] === 'input_image') repairs.add('image_part_dropped');
        else out += JSON.stringify(part);
      }
    }
    return out;
  }
  return JSON.stringify(content);
}

function argumentsText(args: unknown): string {
  if (typeof args === 'string') return args;
  if (args === undefined || args === null) return '{}';
  return JSON.stringify(args);
}

export interface IdSource {
  next(): string;
}

export function idSource(prefix: string): IdSource {
  let n = 0;
  return { next: () => `call_${prefix}_${n++}` };
}

function toolCalls(raw: unknown, ids: IdSource, repairs: Repairs): ToolCall[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw new RecordRejected('tool_calls is not an array');
  const out: ToolCall[] = [];
  for (const c of raw) {
    if (typeof c !== 'object' || c === null) throw new RecordRejected('a tool call is not an object');
    const call = c as Record<string, unknown>;
    const fn = (call['function'] ?? call) as Record<string, unknown>;
    const name = fn['name'] ?? call['function_name'];
    if (typeof name !== 'string' || name === '') throw new RecordRejected('a tool call has no function name');
    let id = call['id'] ?? call['tool_call_id'];
    if (typeof id !== 'string' || id === '') {
      id = ids.next();
      repairs.add('tool_call_id_generated');
    }
    out.push({ id: id as string, type: 'function', function: { name, arguments: argumentsText(fn['arguments']) } });
  }
  return out.length === 0 ? undefined : out;
}

/** ToolBench-style `Action: name` / `Action Input: {...}` in an assistant's text. */
function parseAction(text: string): { name?: string; args?: string } {
  const name = /Action:\s*([^\n]+)/.exec(text)?.[1]?.trim();
  const args = /Action Input:\s*([\s\S]*)$/.exec(text)?.[1]?.trim();
  return { ...(name ? { name: name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) } : {}), ...(args ? { args } : {}) };
}

export function normalize(raw: readonly RawMessage[], functionRole: FunctionRole, ids: IdSource, repairs: Repairs): Normalized {
  const messages: ChatMessage[] = [];
  const turnFacts: Normalized['turnFacts'] = new Map();
  // Index in `messages` of the assistant whose tool calls are still being answered, and those ids.
  let openCall: { at: number; pending: Set<string> } | undefined;

  const closeOpenCalls = (): void => {
    if (openCall === undefined) return;
    for (const id of openCall.pending) {
      messages.push({ role: 'tool', tool_call_id: id, content: '' });
      repairs.add('missing_tool_result');
    }
    openCall = undefined;
  };

  for (const m of raw) {
    const role = canonicalRole(m.role);
    if (role === undefined) throw new RecordRejected(`unknown role ${JSON.stringify(m.role)}`);
    const name = typeof m.name === 'string' && m.name !== '' ? m.name : undefined;
    if (role === 'tool' || role === 'function') {
      const text = contentText(m.content, repairs);
      const id = typeof m.tool_call_id === 'string' ? m.tool_call_id : undefined;
      if (role === 'tool' && id !== undefined && openCall?.pending.has(id)) {
        openCall.pending.delete(id);
        messages.push({ role: 'tool', tool_call_id: id, content: text });
        continue;
      }
      if (role === 'function' && functionRole === 'tool') {
        const prev = messages[messages.length - 1];
        const owner = openCall !== undefined ? messages[openCall.at] : prev?.role === 'assistant' ? prev : undefined;
        if (owner !== undefined && owner.role === 'assistant') {
          const action = parseAction(typeof owner.content === 'string' ? owner.content : '');
          const call: ToolCall = { id: ids.next(), type: 'function', function: { name: name ?? action.name ?? 'function', arguments: action.args ?? '{}' } };
          owner.tool_calls = [...(owner.tool_calls ?? []), call];
          if (openCall === undefined) openCall = { at: messages.lastIndexOf(owner), pending: new Set() };
          messages.push({ role: 'tool', tool_call_id: call.id, content: text });
          repairs.add('function_to_tool');
          continue;
        }
        repairs.add('function_without_call_to_user');
      } else if (role === 'function') {
        repairs.add('function_to_user');
      } else {
        repairs.add('orphan_tool_result_to_user');
      }
      closeOpenCalls();
      messages.push({ role: 'user', content: text, ...(name === undefined || role === 'tool' ? {} : { name }) });
      continue;
    }
    closeOpenCalls();
    let text = contentText(m.content, repairs);
    if (role === 'assistant') {
      let calls = toolCalls(m.tool_calls, ids, repairs);
      const fc = m.function_call as Record<string, unknown> | undefined;
      if (fc !== undefined && fc !== null && typeof fc === 'object' && typeof fc['name'] === 'string') {
        if (functionRole === 'tool') {
          calls = [...(calls ?? []), { id: ids.next(), type: 'function', function: { name: fc['name'], arguments: argumentsText(fc['arguments']) } }];
        } else {
          // Keep the call's bytes in the text: the next message (its result) becomes a user message.
          text = `${text}${text === '' ? '' : '\n'}${fc['name']}(${argumentsText(fc['arguments'])})`;
        }
        repairs.add('function_call_converted');
      }
      const msg: ChatMessage = { role: 'assistant', content: text === '' && calls !== undefined ? null : text };
      if (calls !== undefined) {
        msg.tool_calls = calls;
        openCall = { at: messages.length, pending: new Set(calls.map((c) => c.id)) };
      }
      if (name !== undefined) msg.name = name;
      turnFacts.set(messages.length, {
        ...(m.thinkMs === undefined ? {} : { thinkMs: m.thinkMs }),
        ...(m.outputTokens === undefined ? {} : { outputTokens: m.outputTokens }),
        ...(m.reasoning === undefined ? {} : { reasoning: m.reasoning }),
      });
      messages.push(msg);
      continue;
    }
    messages.push({ role: role as ChatMessage['role'], content: text, ...(name === undefined ? {} : { name }) });
  }
  // A trailing call with no result never reaches a prompt: nothing after it is replayed.
  return { messages, turnFacts };
}
