// Claude's Messages API as the simulators serve it (on Anthropic's API, Vertex AI and Bedrock): the
// request checks the real API makes (including tool_use/tool_result pairing, which translation bugs
// break first) and the answer as one `message` or the documented event sequence.
import type { AnthropicContentBlock, AnthropicMessage, AnthropicStreamEvent } from '../../protocol/anthropic.js';
import type { Reply, ReplyEngine, ToolMode } from './reply.js';

export type ClaudeHost = 'anthropic' | 'vertex' | 'bedrock';

export class ClaudeError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const bad = (message: string): ClaudeError => new ClaudeError(400, 'invalid_request_error', message);

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

const BLOCK_TYPES = new Set(['text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking', 'document', 'search_result']);

export interface CheckedClaude {
  readonly model: string | undefined;
  readonly body: Rec;
  readonly stream: boolean;
}

/** The Messages API's own validation, per host (Vertex and Bedrock take `anthropic_version` in the body). */
export function checkClaudeBody(body: unknown, host: ClaudeHost): CheckedClaude {
  if (!isRec(body)) throw bad('The request body must be a JSON object.');
  if (host === 'anthropic') {
    if (typeof body['model'] !== 'string' || body['model'] === '') throw bad('model: Field required');
  } else {
    const want = host === 'vertex' ? 'vertex-2023-10-16' : 'bedrock-2023-05-31';
    if (body['anthropic_version'] !== want) throw bad(`anthropic_version: Input should be '${want}'`);
    if (host === 'bedrock') {
      for (const k of ['model', 'stream']) if (k in body) throw bad(`Malformed input request: #: extraneous key [${k}] is not permitted, please reformat your input and try again.`);
    }
  }
  const max = body['max_tokens'];
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw bad('max_tokens: Field required');
  const t = body['temperature'];
  if (t !== undefined && (typeof t !== 'number' || t < 0 || t > 1)) throw bad('temperature: Input should be less than or equal to 1');
  const msgs = body['messages'];
  if (!Array.isArray(msgs) || msgs.length === 0) throw bad('messages: at least one message is required');
  let prevToolUses: string[] = [];
  msgs.forEach((m, i) => {
    if (!isRec(m)) throw bad(`messages.${i}: Input should be a valid dictionary`);
    const role = m['role'];
    if (role !== 'user' && role !== 'assistant') throw bad(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    const content = m['content'];
    const blocks: Rec[] = typeof content === 'string' ? [{ type: 'text', text: content }] : Array.isArray(content) ? (content as unknown[]).filter(isRec) : [];
    if (typeof content !== 'string' && !Array.isArray(content)) throw bad(`messages.${i}.content: Input should be a valid string or list`);
    blocks.forEach((b, j) => {
      if (!BLOCK_TYPES.has(String(b['type']))) throw bad(`messages.${i}.content.${j}.type: Input tag '${String(b['type'])}' found using 'type' does not match any of the expected tags`);
      if (b['type'] === 'text' && typeof b['text'] !== 'string') throw bad(`messages.${i}.content.${j}.text: Field required`);
      if (b['type'] === 'tool_use' && (typeof b['id'] !== 'string' || typeof b['name'] !== 'string' || !isRec(b['input']))) {
        throw bad(`messages.${i}.content.${j}: tool_use blocks need id, name and an object input`);
      }
    });
    const results = blocks.filter((b) => b['type'] === 'tool_result').map((b) => String(b['tool_use_id']));
    if (role === 'user') {
      const unknown = results.filter((id) => !prevToolUses.includes(id));
      if (unknown.length > 0) {
        throw bad(`messages.${i}.content.0: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${unknown.join(', ')}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`);
      }
      const missing = prevToolUses.filter((id) => !results.includes(id));
      if (missing.length > 0) {
        throw bad(`messages.${i - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`);
      }
    } else if (results.length > 0) throw bad(`messages.${i}: tool_result blocks can only be in user messages`);
    prevToolUses = role === 'assistant' ? blocks.filter((b) => b['type'] === 'tool_use').map((b) => String(b['id'])) : [];
  });
  if (prevToolUses.length > 0 && msgs.length > 0) {
    // A final assistant turn with tool_use is a prefill the API refuses.
    throw bad(`messages.${msgs.length - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${prevToolUses.join(', ')}.`);
  }
  const tools = body['tools'];
  if (tools !== undefined) {
    if (!Array.isArray(tools)) throw bad('tools: Input should be a valid list');
    tools.forEach((tool, i) => {
      if (!isRec(tool) || typeof tool['name'] !== 'string' || (tool['type'] === undefined && !isRec(tool['input_schema']))) throw bad(`tools.${i}: custom tools need a name and an input_schema object`);
    });
  }
  const th = body['thinking'];
  if (isRec(th) && th['type'] === 'enabled') {
    const b = th['budget_tokens'];
    if (typeof b !== 'number' || b < 1024) throw bad('thinking.enabled.budget_tokens: Input should be greater than or equal to 1024');
    if (b >= max) throw bad('`max_tokens` must be greater than `thinking.budget_tokens`.');
  }
  return { model: typeof body['model'] === 'string' ? body['model'] : undefined, body, stream: body['stream'] === true };
}

function blockText(b: Rec): string {
  if (typeof b['text'] === 'string') return b['text'];
  if (b['type'] === 'tool_use') return `${String(b['name'])}${JSON.stringify(b['input'])}`;
  if (b['type'] === 'tool_result') return typeof b['content'] === 'string' ? b['content'] : JSON.stringify(b['content'] ?? '');
  if (typeof b['thinking'] === 'string') return b['thinking'];
  return '';
}

/** Plans the answer: prompt text and cache prefix (through the last cache_control breakpoint). */
export function claudeReply(engine: ReplyEngine, body: Rec, outputTokens: number | undefined): Reply {
  let prompt = '';
  let prefix = '';
  const add = (text: string, b: Rec): void => {
    prompt += text;
    if (isRec(b['cache_control'])) prefix = prompt;
  };
  for (const t of Array.isArray(body['tools']) ? (body['tools'] as unknown[]) : []) if (isRec(t)) add(JSON.stringify(t), t);
  const sys = body['system'];
  if (typeof sys === 'string') prompt += sys;
  else if (Array.isArray(sys)) for (const b of sys) if (isRec(b)) add(blockText(b), b);
  const msgs = (body['messages'] as unknown[]).filter(isRec);
  for (const m of msgs) {
    const c = m['content'];
    if (typeof c === 'string') prompt += c;
    else if (Array.isArray(c)) for (const b of c) if (isRec(b)) add(blockText(b), b);
  }
  const last = msgs[msgs.length - 1];
  const afterToolResult = last !== undefined && Array.isArray(last['content']) && (last['content'] as unknown[]).some((b) => isRec(b) && b['type'] === 'tool_result');
  const tc = isRec(body['tool_choice']) ? body['tool_choice'] : undefined;
  const mode: ToolMode =
    tc?.['type'] === 'any' ? { type: 'any' } : tc?.['type'] === 'none' ? { type: 'none' } : tc?.['type'] === 'tool' ? { type: 'tool', name: String(tc['name']) } : { type: 'auto' };
  const tools = (Array.isArray(body['tools']) ? (body['tools'] as unknown[]) : []).filter(isRec).map((t) => ({ name: String(t['name']), schema: t['input_schema'] }));
  const th = body['thinking'];
  return engine.plan({
    promptText: prompt,
    tools,
    toolMode: mode,
    parallelTools: tc?.['disable_parallel_tool_use'] !== true,
    afterToolResult,
    maxTokens: body['max_tokens'] as number,
    forcedTokens: outputTokens,
    thinking: isRec(th) && th['type'] === 'enabled',
    json: false,
    cachePrefix: prefix === '' ? undefined : prefix,
  });
}

function usageOf(r: Reply): AnthropicMessage['usage'] {
  return {
    input_tokens: r.inputTokens - r.cacheRead - r.cacheWrite,
    cache_creation_input_tokens: r.cacheWrite,
    cache_read_input_tokens: r.cacheRead,
    output_tokens: r.outputTokens,
  };
}

function stopReason(r: Reply): AnthropicMessage['stop_reason'] {
  return r.finish === 'tool' ? 'tool_use' : r.finish === 'length' ? 'max_tokens' : 'end_turn';
}

export function claudeMessage(engine: ReplyEngine, r: Reply, model: string): AnthropicMessage {
  const content: AnthropicContentBlock[] = [];
  if (r.thinking.length > 0) content.push({ type: 'thinking', thinking: r.thinking.join('').trim(), signature: signature(engine) });
  if (r.text.length > 0) content.push({ type: 'text', text: r.text.join('') });
  for (const c of r.toolCalls) content.push({ type: 'tool_use', id: engine.id('toolu_'), name: c.name, input: c.args });
  return { id: engine.id('msg_'), type: 'message', role: 'assistant', model, content, stop_reason: stopReason(r), stop_sequence: null, usage: usageOf(r) };
}

function signature(engine: ReplyEngine): string {
  return Buffer.from(engine.id('sig')).toString('base64');
}

/** The streamed form of the same answer, event by event (text one token per delta). */
export function claudeEvents(engine: ReplyEngine, r: Reply, model: string): AnthropicStreamEvent[] {
  const msg = claudeMessage(engine, r, model);
  const u = usageOf(r);
  const ev: AnthropicStreamEvent[] = [
    { type: 'message_start', message: { ...msg, content: [], stop_reason: null, usage: { ...u, output_tokens: 1 } } },
    { type: 'ping' },
  ];
  msg.content.forEach((b, index) => {
    switch (b.type) {
      case 'thinking':
        ev.push({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } });
        for (const p of r.thinking) ev.push({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: p } });
        ev.push({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: b.signature } });
        break;
      case 'text':
        ev.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
        for (const p of r.text) ev.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: p } });
        break;
      case 'tool_use': {
        ev.push({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
        const json = JSON.stringify(b.input);
        const cut = Math.max(1, Math.floor(json.length / 2));
        // The API streams partial JSON, starting with an empty fragment.
        for (const partial_json of ['', json.slice(0, cut), json.slice(cut)]) ev.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } });
        break;
      }
      default:
        break;
    }
    ev.push({ type: 'content_block_stop', index });
  });
  ev.push({ type: 'message_delta', delta: { stop_reason: msg.stop_reason, stop_sequence: null }, usage: { ...u } });
  ev.push({ type: 'message_stop' });
  return ev;
}

export function claudeErrorType(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 529:
      return 'overloaded_error';
    default:
      return 'api_error';
  }
}

export function claudeErrorBody(type: string, message: string, requestId: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, request_id: requestId });
}

export function sseEvent(e: { type: string }): string {
  return `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

/** A count_tokens answer's number, the same on every Claude host: the tokens of the messages' JSON. */
export function claudeInputCount(engine: ReplyEngine, body: unknown): number {
  const messages = typeof body === 'object' && body !== null ? (body as Rec)['messages'] : undefined;
  return engine.count(JSON.stringify(messages ?? ''));
}
