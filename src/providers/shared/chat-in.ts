// An OpenAI chat completions request, checked and normalized once into the shape every non-OpenAI
// translator starts from (Anthropic, Gemini, Bedrock). Mistakes a provider would reject anyway are
// reported here with the OpenAI parameter name, so the client learns what to fix in its own terms.
import { GatewayError } from '../../core/errors.js';
import { isRecord, parseDataUrl, type Json } from './json.js';

export type NormPart = { type: 'text'; text: string } | { type: 'image'; mediaType: string; data: string } | { type: 'image_url'; url: string };

export interface NormToolCall {
  readonly id: string;
  readonly name: string;
  /** JSON text, as the client sent it. */
  readonly arguments: string;
}

export type NormMessage =
  | { readonly role: 'user'; readonly parts: NormPart[] }
  | { readonly role: 'assistant'; readonly text: string; readonly reasoning: string; readonly toolCalls: NormToolCall[] }
  | { readonly role: 'tool'; readonly toolCallId: string; readonly name: string | undefined; readonly content: string };

export interface NormTool {
  readonly name: string;
  readonly description: string | undefined;
  readonly parameters: Json;
}

export type NormToolChoice = { type: 'auto' } | { type: 'none' } | { type: 'required' } | { type: 'function'; name: string };

export type NormResponseFormat = { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; name: string; schema: Json | undefined };

export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high';

export interface NormChat {
  readonly model: string | undefined;
  /** System and developer messages, in order (providers take one system prompt). */
  readonly system: string[];
  readonly messages: NormMessage[];
  readonly tools: NormTool[];
  readonly toolChoice: NormToolChoice | undefined;
  readonly parallelToolCalls: boolean | undefined;
  readonly responseFormat: NormResponseFormat | undefined;
  readonly stop: string[];
  readonly temperature: number | undefined;
  readonly topP: number | undefined;
  readonly topK: number | undefined;
  readonly maxTokens: number | undefined;
  readonly reasoningEffort: ReasoningEffort | undefined;
  readonly seed: number | undefined;
  readonly presencePenalty: number | undefined;
  readonly frequencyPenalty: number | undefined;
  readonly user: string | undefined;
  readonly stream: boolean;
  /** The client asked for the usage chunk (`stream_options.include_usage`). */
  readonly includeUsage: boolean;
}

function bad(message: string, param: string): GatewayError {
  return new GatewayError('invalid_body', message, { param });
}

function optNumber(body: Json, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw bad(`"${key}" must be a number from ${min} to ${max}.`, key);
  return v;
}

function optInt(body: Json, key: string, min: number): number | undefined {
  const v = optNumber(body, key, min, Number.MAX_SAFE_INTEGER);
  if (v !== undefined && !Number.isInteger(v)) throw bad(`"${key}" must be a whole number.`, key);
  return v;
}

/** Text of a message's content: a string, or text parts joined (other parts are an error here). */
function textContent(content: unknown, param: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw bad('"content" must be a string or an array of content parts.', param);
  let out = '';
  content.forEach((p, i) => {
    if (!isRecord(p) || p['type'] !== 'text' || typeof p['text'] !== 'string') throw bad('Only text content parts are allowed here.', `${param}[${i}]`);
    out += p['text'];
  });
  return out;
}

function userParts(content: unknown, param: string): NormPart[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw bad('"content" must be a string or an array of content parts.', param);
  return content.map((p, i): NormPart => {
    const where = `${param}[${i}]`;
    if (!isRecord(p)) throw bad('Each content part must be an object.', where);
    switch (p['type']) {
      case 'text':
        if (typeof p['text'] !== 'string') throw bad('A text part needs a "text" string.', where);
        return { type: 'text', text: p['text'] };
      case 'image_url': {
        const iu = p['image_url'];
        const url = isRecord(iu) ? iu['url'] : undefined;
        if (typeof url !== 'string' || url === '') throw bad('An image_url part needs image_url.url.', where);
        const d = parseDataUrl(url);
        return d === undefined ? { type: 'image_url', url } : { type: 'image', mediaType: d.mediaType, data: d.data };
      }
      default:
        throw bad(`Content part type ${JSON.stringify(p['type'])} is not supported by this backend; use text and image_url parts.`, where);
    }
  });
}

export function normalizeChat(body: Readonly<Json>): NormChat {
  const rawMessages = body['messages'];
  if (!Array.isArray(rawMessages) || rawMessages.length === 0) throw bad('"messages" must be a non-empty array.', 'messages');
  const system: string[] = [];
  const messages: NormMessage[] = [];
  const toolNames = new Map<string, string>();
  rawMessages.forEach((m, i) => {
    const param = `messages[${i}]`;
    if (!isRecord(m)) throw bad('Each message must be an object.', param);
    switch (m['role']) {
      case 'system':
      case 'developer':
        system.push(textContent(m['content'], `${param}.content`));
        return;
      case 'user':
        messages.push({ role: 'user', parts: userParts(m['content'] ?? '', `${param}.content`) });
        return;
      case 'assistant': {
        const calls: NormToolCall[] = [];
        const tc = m['tool_calls'];
        if (tc !== undefined && tc !== null) {
          if (!Array.isArray(tc)) throw bad('"tool_calls" must be an array.', `${param}.tool_calls`);
          tc.forEach((c, j) => {
            const fn = isRecord(c) ? c['function'] : undefined;
            const id = isRecord(c) ? c['id'] : undefined;
            if (!isRecord(fn) || typeof fn['name'] !== 'string' || typeof id !== 'string') {
              throw bad('Each tool call needs an id and function.name.', `${param}.tool_calls[${j}]`);
            }
            const args = typeof fn['arguments'] === 'string' ? fn['arguments'] : '';
            calls.push({ id, name: fn['name'], arguments: args });
            toolNames.set(id, fn['name']);
          });
        }
        const reasoning = typeof m['reasoning_content'] === 'string' ? m['reasoning_content'] : typeof m['reasoning'] === 'string' ? m['reasoning'] : '';
        messages.push({ role: 'assistant', text: textContent(m['content'], `${param}.content`), reasoning, toolCalls: calls });
        return;
      }
      case 'tool': {
        const id = m['tool_call_id'];
        if (typeof id !== 'string' || id === '') throw bad('A tool message needs "tool_call_id".', `${param}.tool_call_id`);
        messages.push({ role: 'tool', toolCallId: id, name: toolNames.get(id), content: textContent(m['content'], `${param}.content`) });
        return;
      }
      case 'function':
        throw bad('The deprecated "function" role is not supported by this backend; use tool calls.', `${param}.role`);
      default:
        throw bad(`Unknown role ${JSON.stringify(m['role'])}; use system, developer, user, assistant or tool.`, `${param}.role`);
    }
  });
  if (messages.length === 0) throw bad('"messages" has only system messages; add a user message.', 'messages');

  const n = body['n'];
  if (n !== undefined && n !== null && n !== 1) throw bad('This backend returns one choice per request; "n" must be 1.', 'n');

  const stream = body['stream'] === true;
  const so = body['stream_options'];
  return {
    model: typeof body['model'] === 'string' ? body['model'] : undefined,
    system,
    messages,
    tools: tools(body['tools']),
    toolChoice: toolChoice(body['tool_choice']),
    parallelToolCalls: typeof body['parallel_tool_calls'] === 'boolean' ? body['parallel_tool_calls'] : undefined,
    responseFormat: responseFormat(body['response_format']),
    stop: stop(body['stop']),
    temperature: optNumber(body, 'temperature', 0, 2),
    topP: optNumber(body, 'top_p', 0, 1),
    topK: optInt(body, 'top_k', 0),
    maxTokens: optInt(body, 'max_completion_tokens', 1) ?? optInt(body, 'max_tokens', 1),
    reasoningEffort: reasoningEffort(body['reasoning_effort']),
    seed: optInt(body, 'seed', Number.MIN_SAFE_INTEGER),
    presencePenalty: optNumber(body, 'presence_penalty', -2, 2),
    frequencyPenalty: optNumber(body, 'frequency_penalty', -2, 2),
    user: typeof body['user'] === 'string' ? body['user'] : undefined,
    stream,
    includeUsage: stream && isRecord(so) && so['include_usage'] === true,
  };
}

function tools(v: unknown): NormTool[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad('"tools" must be an array.', 'tools');
  return v.map((t, i) => {
    const fn = isRecord(t) ? t['function'] : undefined;
    if (!isRecord(t) || t['type'] !== 'function' || !isRecord(fn) || typeof fn['name'] !== 'string' || fn['name'] === '') {
      throw bad('Each tool must be {"type": "function", "function": {"name": …}}.', `tools[${i}]`);
    }
    const params = fn['parameters'];
    if (params !== undefined && !isRecord(params)) throw bad('"parameters" must be a JSON Schema object.', `tools[${i}].function.parameters`);
    return {
      name: fn['name'],
      description: typeof fn['description'] === 'string' ? fn['description'] : undefined,
      parameters: params ?? { type: 'object', properties: {} },
    };
  });
}

function toolChoice(v: unknown): NormToolChoice | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 'auto' || v === 'none' || v === 'required') return { type: v };
  if (isRecord(v) && v['type'] === 'function' && isRecord(v['function']) && typeof v['function']['name'] === 'string') {
    return { type: 'function', name: v['function']['name'] };
  }
  throw bad('"tool_choice" must be "auto", "none", "required" or {"type": "function", "function": {"name": …}}.', 'tool_choice');
}

function responseFormat(v: unknown): NormResponseFormat | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) throw bad('"response_format" must be an object.', 'response_format');
  switch (v['type']) {
    case 'text':
      return { type: 'text' };
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema': {
      const js = v['json_schema'];
      if (!isRecord(js)) throw bad('"response_format.json_schema" must be an object with a schema.', 'response_format.json_schema');
      const schema = js['schema'];
      return { type: 'json_schema', name: typeof js['name'] === 'string' ? js['name'] : 'response', schema: isRecord(schema) ? schema : undefined };
    }
    default:
      throw bad('"response_format.type" must be text, json_object or json_schema.', 'response_format.type');
  }
}

function stop(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v;
  throw bad('"stop" must be a string or an array of strings.', 'stop');
}

function reasoningEffort(v: unknown): ReasoningEffort | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 'none' || v === 'minimal' || v === 'low' || v === 'medium' || v === 'high') return v;
  throw bad('"reasoning_effort" must be none, minimal, low, medium or high.', 'reasoning_effort');
}

/** Thinking budget tokens for a reasoning effort (providers that take a budget, not a level). */
export function thinkingBudget(effort: ReasoningEffort): number {
  switch (effort) {
    case 'none':
      return 0;
    case 'minimal':
      return 1024;
    case 'low':
      return 2048;
    case 'medium':
      return 8192;
    case 'high':
      return 24576;
  }
}

/** The text of a tool result for providers that take strings, and JSON objects where they take objects. */
export function toolResultObject(content: string): Json {
  try {
    const v = JSON.parse(content) as unknown;
    if (isRecord(v)) return v;
  } catch {
    // plain text result
  }
  return { result: content };
}
