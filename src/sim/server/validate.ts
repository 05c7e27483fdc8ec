// Request validation as strict as vLLM's pydantic models: a wrong type, an unknown role, a message
// without required fields or parameters that contradict each other get a 400 naming the field, where
// a lenient mock would hide the bug until production (the whitepaper's `role: function` trap).
import type { ChatMessage } from '../../protocol/openai.js';
import { badRequest } from './errors.js';

export type ToolChoice = 'none' | 'auto' | 'required' | { readonly name: string };

export interface GenerationParams {
  readonly model: string | undefined;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly continuousUsage: boolean;
  readonly maxTokens: number | undefined;
  readonly minTokens: number;
  readonly ignoreEos: boolean;
  readonly n: number;
}

export interface ChatParams extends GenerationParams {
  readonly kind: 'chat';
  readonly messages: ChatMessage[];
  readonly toolNames: readonly string[];
  /** Each tool's `parameters` (JSON Schema), by name. */
  readonly toolSchemas: ReadonlyMap<string, unknown>;
  readonly toolChoice: ToolChoice;
  readonly responseFormat: 'text' | 'json_object' | 'json_schema';
  /** response_format.json_schema.schema, for json_schema. */
  readonly responseSchema: unknown;
  readonly logprobs: boolean;
  readonly topLogprobs: number;
  readonly toolsText: string;
}

export interface CompletionParams extends GenerationParams {
  readonly kind: 'completion';
  readonly prompts: ReadonlyArray<string | number[]>;
  readonly echo: boolean;
}

export interface EmbeddingParams {
  readonly model: string | undefined;
  readonly inputs: ReadonlyArray<string | number[]>;
  readonly encodingFormat: 'float' | 'base64';
  readonly dimensions: number | undefined;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function optString(o: Obj, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badRequest(`${key}: Input should be a valid string, got ${typeName(v)}`, key);
  return v;
}

function optBool(o: Obj, key: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw badRequest(`${key}: Input should be a valid boolean, got ${typeName(v)}`, key);
  return v;
}

function optInt(o: Obj, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw badRequest(`${key}: Input should be a valid integer, got ${JSON.stringify(v)}`, key);
  if (v < min || v > max) throw badRequest(`${key} must be at least ${min} and at most ${max}, got ${v}.`, key);
  return v;
}

function optNumber(o: Obj, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`${key}: Input should be a valid number, got ${typeName(v)}`, key);
  if (v < min || v > max) throw badRequest(`${key} must be in [${min}, ${max}], got ${v}.`, key);
  return v;
}

function generation(o: Obj, defaultMaxTokens: number | undefined): GenerationParams {
  const model = optString(o, 'model');
  const stream = optBool(o, 'stream', false);
  let includeUsage = false;
  let continuousUsage = false;
  const so = o['stream_options'];
  if (so !== undefined && so !== null) {
    if (!stream) throw badRequest('Stream options can only be defined when `stream=True`.', 'stream_options');
    if (!isObj(so)) throw badRequest(`stream_options: Input should be an object, got ${typeName(so)}`, 'stream_options');
    includeUsage = optBool(so, 'include_usage', false);
    continuousUsage = optBool(so, 'continuous_usage_stats', false);
  }
  const maxCompletion = optInt(o, 'max_completion_tokens', 1, Number.MAX_SAFE_INTEGER);
  const maxTokens = optInt(o, 'max_tokens', 1, Number.MAX_SAFE_INTEGER);
  const minTokens = optInt(o, 'min_tokens', 0, Number.MAX_SAFE_INTEGER) ?? 0;
  const max = maxCompletion ?? maxTokens ?? defaultMaxTokens;
  if (max !== undefined && minTokens > max) throw badRequest(`min_tokens must be less than or equal to max_tokens=${max}, got ${minTokens}.`, 'min_tokens');
  optNumber(o, 'temperature', 0, 2);
  const topP = optNumber(o, 'top_p', 0, 1);
  if (topP === 0) throw badRequest('top_p must be in (0, 1], got 0.', 'top_p');
  optNumber(o, 'presence_penalty', -2, 2);
  optNumber(o, 'frequency_penalty', -2, 2);
  optInt(o, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const stop = o['stop'];
  if (stop !== undefined && stop !== null && typeof stop !== 'string' && !(Array.isArray(stop) && stop.every((s) => typeof s === 'string'))) {
    throw badRequest('stop: Input should be a string or a list of strings', 'stop');
  }
  const n = optInt(o, 'n', 1, 128) ?? 1;
  return { model, stream, includeUsage, continuousUsage, maxTokens: max, minTokens, ignoreEos: optBool(o, 'ignore_eos', false), n };
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

function validateContent(msg: Obj, i: number, role: string): void {
  const c = msg['content'];
  if (c === undefined || c === null) {
    const hasCalls = Array.isArray(msg['tool_calls']) && msg['tool_calls'].length > 0;
    if (role === 'assistant' || (role === 'function' && c === null)) return;
    if (hasCalls) return;
    throw badRequest(`messages[${i}].content: Field required for role '${role}'`, `messages.${i}.content`);
  }
  if (typeof c === 'string') return;
  if (!Array.isArray(c)) throw badRequest(`messages[${i}].content: Input should be a string or a list of content parts, got ${typeName(c)}`, `messages.${i}.content`);
  c.forEach((part, j) => {
    if (!isObj(part) || typeof part['type'] !== 'string') {
      throw badRequest(`messages[${i}].content[${j}]: each content part must be an object with a "type"`, `messages.${i}.content`);
    }
    const t = part['type'];
    if (t === 'text' && typeof part['text'] !== 'string') throw badRequest(`messages[${i}].content[${j}].text: Field required`, `messages.${i}.content`);
    if (t === 'image_url' && !isObj(part['image_url'])) throw badRequest(`messages[${i}].content[${j}].image_url: Field required`, `messages.${i}.content`);
  });
}

function validateMessages(v: unknown): ChatMessage[] {
  if (v === undefined) throw badRequest('messages: Field required', 'messages');
  if (!Array.isArray(v)) throw badRequest(`messages: Input should be a valid list, got ${typeName(v)}`, 'messages');
  if (v.length === 0) throw badRequest("messages: List should have at least 1 item after validation, not 0", 'messages');
  v.forEach((m, i) => {
    if (!isObj(m)) throw badRequest(`messages[${i}]: Input should be an object, got ${typeName(m)}`, `messages.${i}`);
    const role = m['role'];
    if (typeof role !== 'string') throw badRequest(`messages[${i}].role: Field required`, `messages.${i}.role`);
    if (!ROLES.has(role)) {
      throw badRequest(
        `messages[${i}].role: unknown role '${role}'; expected one of 'system', 'developer', 'user', 'assistant', 'tool'`,
        `messages.${i}.role`,
      );
    }
    if (role === 'function' && (typeof m['name'] !== 'string' || m['name'].length === 0)) {
      throw badRequest(`messages[${i}]: a message with role 'function' requires a 'name' (the legacy format; send role 'tool' with a tool_call_id instead)`, `messages.${i}.name`);
    }
    if (m['name'] !== undefined && typeof m['name'] !== 'string') throw badRequest(`messages[${i}].name: Input should be a valid string`, `messages.${i}.name`);
    if (role === 'tool' && typeof m['tool_call_id'] !== 'string') {
      throw badRequest(`messages[${i}].tool_call_id: Field required for role 'tool'`, `messages.${i}.tool_call_id`);
    }
    const calls = m['tool_calls'];
    if (calls !== undefined && calls !== null) {
      if (role !== 'assistant' || !Array.isArray(calls)) throw badRequest(`messages[${i}].tool_calls: only assistant messages carry a list of tool_calls`, `messages.${i}.tool_calls`);
      calls.forEach((tc, j) => {
        const fn = isObj(tc) ? tc['function'] : undefined;
        if (!isObj(tc) || !isObj(fn) || typeof fn['name'] !== 'string' || typeof fn['arguments'] !== 'string' || typeof tc['id'] !== 'string') {
          throw badRequest(`messages[${i}].tool_calls[${j}]: needs id, and function.name and function.arguments as strings`, `messages.${i}.tool_calls`);
        }
      });
    }
    validateContent(m, i, role);
  });
  return v as ChatMessage[];
}

export function parseChatRequest(body: unknown): ChatParams {
  if (!isObj(body)) throw badRequest(`The request body must be a JSON object, got ${typeName(body)}`);
  const gen = generation(body, undefined);
  const messages = validateMessages(body['messages']);
  const tools = body['tools'];
  const toolNames: string[] = [];
  const toolSchemas = new Map<string, unknown>();
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) throw badRequest('tools: Input should be a valid list', 'tools');
    tools.forEach((t, i) => {
      const fn = isObj(t) ? t['function'] : undefined;
      if (!isObj(t) || t['type'] !== 'function' || !isObj(fn) || typeof fn['name'] !== 'string') {
        throw badRequest(`tools[${i}]: each tool must be {"type": "function", "function": {"name": …}}`, `tools.${i}`);
      }
      toolNames.push(fn['name']);
      toolSchemas.set(fn['name'], fn['parameters'] ?? { type: 'object', properties: {} });
    });
  }
  let toolChoice: ToolChoice = toolNames.length > 0 ? 'auto' : 'none';
  const tc = body['tool_choice'];
  if (tc !== undefined && tc !== null) {
    if (tc === 'none' || tc === 'auto' || tc === 'required') toolChoice = tc;
    else if (isObj(tc) && isObj(tc['function']) && typeof tc['function']['name'] === 'string') toolChoice = { name: tc['function']['name'] };
    else throw badRequest(`tool_choice: expected "none", "auto", "required" or {"type": "function", "function": {"name": …}}`, 'tool_choice');
    if (toolChoice !== 'none' && toolNames.length === 0) throw badRequest('When using `tool_choice`, `tools` must be set.', 'tool_choice');
    if (typeof toolChoice === 'object' && !toolNames.includes(toolChoice.name)) {
      throw badRequest(`tool_choice names function '${toolChoice.name}', which is not in tools`, 'tool_choice');
    }
  }
  let responseFormat: ChatParams['responseFormat'] = 'text';
  let responseSchema: unknown;
  const rf = body['response_format'];
  if (rf !== undefined && rf !== null) {
    const t = isObj(rf) ? rf['type'] : undefined;
    if (!isObj(rf) || (t !== 'text' && t !== 'json_object' && t !== 'json_schema')) throw badRequest('response_format.type must be "text", "json_object" or "json_schema"', 'response_format');
    responseFormat = t;
    if (t === 'json_schema') {
      const js = rf['json_schema'];
      if (!isObj(js) || typeof js['name'] !== 'string') throw badRequest('response_format.json_schema.name: Field required', 'response_format.json_schema');
      if (js['schema'] !== undefined && !isObj(js['schema'])) throw badRequest('response_format.json_schema.schema: Input should be a valid dictionary', 'response_format.json_schema.schema');
      responseSchema = js['schema'];
    }
  }
  const logprobs = optBool(body, 'logprobs', false);
  const top = optInt(body, 'top_logprobs', 0, 20);
  if (top !== undefined && top > 0 && !logprobs) throw badRequest('when using `top_logprobs`, `logprobs` must be set to true.', 'top_logprobs');
  return {
    ...gen,
    kind: 'chat',
    messages,
    toolNames,
    toolSchemas,
    toolChoice,
    responseFormat,
    responseSchema,
    logprobs,
    topLogprobs: top ?? 0,
    toolsText: toolNames.length > 0 ? JSON.stringify(tools) : '',
  };
}

function promptList(v: unknown, field: string): Array<string | number[]> {
  const isTokens = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t) && (t as number) >= 0);
  if (typeof v === 'string') return [v];
  if (isTokens(v)) return [v];
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' || isTokens(x))) return v;
  if (v === undefined) throw badRequest(`${field}: Field required`, field);
  throw badRequest(`${field}: Input should be a string, a list of strings, a list of token ids or a list of lists of token ids`, field);
}

export function parseCompletionRequest(body: unknown): CompletionParams {
  if (!isObj(body)) throw badRequest(`The request body must be a JSON object, got ${typeName(body)}`);
  // vLLM's CompletionRequest defaults max_tokens to 16, as OpenAI's legacy completions did.
  const gen = generation(body, 16);
  const prompts = promptList(body['prompt'], 'prompt');
  if (body['suffix'] !== undefined && body['suffix'] !== null) throw badRequest('suffix is not currently supported', 'suffix');
  optInt(body, 'logprobs', 0, 20);
  return { ...gen, kind: 'completion', prompts, echo: optBool(body, 'echo', false) };
}

export function parseEmbeddingRequest(body: unknown): EmbeddingParams {
  if (!isObj(body)) throw badRequest(`The request body must be a JSON object, got ${typeName(body)}`);
  const inputs = promptList(body['input'], 'input');
  const fmt = body['encoding_format'];
  if (fmt !== undefined && fmt !== null && fmt !== 'float' && fmt !== 'base64') throw badRequest('encoding_format must be "float" or "base64"', 'encoding_format');
  return {
    model: optString(body, 'model'),
    inputs,
    encodingFormat: fmt === 'base64' ? 'base64' : 'float',
    dimensions: optInt(body, 'dimensions', 1, 65_536),
  };
}
