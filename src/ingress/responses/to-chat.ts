// OpenAI Responses request → OpenAI Chat Completions request (the pivot every provider translates
// from). Input items become messages: consecutive function_call items one assistant turn with
// tool_calls, function_call_output items tool messages. What the pivot cannot carry is refused with
// the field named (built-in tools, file inputs) or dropped where the Responses API itself treats it
// as advisory (reasoning items, `include`, `truncation`); docs/ingress.md lists both.
import { GatewayError } from '../../core/errors.js';
import { isRecord, randomId, type Json } from '../../providers/shared/json.js';

function bad(message: string, param: string): GatewayError {
  return new GatewayError('invalid_body', message, { param });
}

/**
 * The request's `input` as a list of items, the form GET /v1/responses/{id}/input_items returns and
 * the conversation state keeps. A string is one user message; each message gets an id.
 */
export function inputItems(body: Readonly<Json>): Json[] {
  const input = body['input'];
  if (typeof input === 'string') return [{ type: 'message', id: randomId('msg_'), role: 'user', content: [{ type: 'input_text', text: input }] }];
  if (!Array.isArray(input)) throw bad('"input" must be a string or an array of input items.', 'input');
  return input.map((raw, i) => {
    if (!isRecord(raw)) throw bad('Each input item must be an object.', `input[${i}]`);
    const type = raw['type'] ?? 'message';
    if (type !== 'message') return { ...raw };
    const content = raw['content'];
    const parts = typeof content === 'string' ? [{ type: raw['role'] === 'assistant' ? 'output_text' : 'input_text', text: content }] : content;
    return { ...raw, type: 'message', id: typeof raw['id'] === 'string' ? raw['id'] : randomId('msg_'), content: parts };
  });
}

function textOf(parts: unknown, param: string): string {
  if (typeof parts === 'string') return parts;
  if (!Array.isArray(parts)) throw bad('"content" must be a string or an array of content parts.', param);
  let s = '';
  parts.forEach((p, i) => {
    if (!isRecord(p)) throw bad('Each content part must be an object.', `${param}[${i}]`);
    if ((p['type'] === 'input_text' || p['type'] === 'output_text' || p['type'] === 'text') && typeof p['text'] === 'string') s += p['text'];
    else if (p['type'] === 'refusal' && typeof p['refusal'] === 'string') s += p['refusal'];
    else throw bad(`Content part type ${JSON.stringify(p['type'])} is not allowed here; use input_text.`, `${param}[${i}].type`);
  });
  return s;
}

function userContent(parts: unknown, param: string): unknown {
  if (typeof parts === 'string') return parts;
  if (!Array.isArray(parts)) throw bad('"content" must be a string or an array of content parts.', param);
  const out = parts.map((p, i) => {
    const where = `${param}[${i}]`;
    if (!isRecord(p)) throw bad('Each content part must be an object.', where);
    switch (p['type']) {
      case 'input_text':
      case 'output_text':
        return { type: 'text', text: typeof p['text'] === 'string' ? p['text'] : '' };
      case 'input_image': {
        const url = p['image_url'];
        if (typeof url !== 'string' || url === '') throw bad('An input_image part needs "image_url" (a URL or data URL); file_id is not supported through the gateway.', where);
        return { type: 'image_url', image_url: { url, ...(typeof p['detail'] === 'string' ? { detail: p['detail'] } : {}) } };
      }
      default:
        throw bad(`Content part type ${JSON.stringify(p['type'])} cannot be translated for this backend; use input_text and input_image (URL or data URL).`, `${where}.type`);
    }
  });
  return out.length === 1 && out[0]?.type === 'text' ? out[0].text : out;
}

function outputText(output: unknown, param: string): string {
  if (typeof output === 'string') return output;
  return textOf(output, param);
}

/** Items (stored history first, then this request's input) → chat messages. */
function messagesOf(items: readonly Json[], instructions: unknown): Json[] {
  const out: Json[] = [];
  if (typeof instructions === 'string' && instructions !== '') out.push({ role: 'system', content: instructions });
  let calls: Json | undefined;
  items.forEach((it, i) => {
    const param = `input[${i}]`;
    const type = it['type'] ?? 'message';
    if (type !== 'function_call') calls = undefined;
    switch (type) {
      case 'message': {
        const role = it['role'];
        if (role === 'system' || role === 'developer') out.push({ role, content: textOf(it['content'], `${param}.content`) });
        else if (role === 'assistant') out.push({ role, content: textOf(it['content'], `${param}.content`) });
        else if (role === 'user') out.push({ role, content: userContent(it['content'], `${param}.content`) });
        else throw bad('"role" must be user, assistant, system or developer.', `${param}.role`);
        return;
      }
      case 'function_call': {
        if (typeof it['call_id'] !== 'string' || typeof it['name'] !== 'string') throw bad('A function_call item needs call_id and name.', param);
        const call = { id: it['call_id'], type: 'function', function: { name: it['name'], arguments: typeof it['arguments'] === 'string' ? it['arguments'] : '{}' } };
        if (calls === undefined) {
          calls = { role: 'assistant', content: null, tool_calls: [call] };
          out.push(calls);
        } else (calls['tool_calls'] as Json[]).push(call);
        return;
      }
      case 'function_call_output':
        if (typeof it['call_id'] !== 'string') throw bad('A function_call_output item needs call_id.', `${param}.call_id`);
        out.push({ role: 'tool', tool_call_id: it['call_id'], content: outputText(it['output'], `${param}.output`) });
        return;
      case 'reasoning':
        // Reasoning items are the model's own; other backends take no reasoning history.
        return;
      default:
        throw bad(`Input item type ${JSON.stringify(type)} cannot be translated for this backend; use message, function_call and function_call_output items.`, `${param}.type`);
    }
  });
  return out;
}

function tools(raw: unknown): Json[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw bad('"tools" must be an array.', 'tools');
  if (raw.length === 0) return undefined;
  return raw.map((t, i) => {
    if (!isRecord(t) || t['type'] !== 'function' || typeof t['name'] !== 'string') {
      const type = isRecord(t) ? JSON.stringify(t['type']) : 'this';
      throw bad(`Tool type ${type} is only available where the backend runs the Responses API itself; through translation use function tools (type, name, parameters).`, `tools[${i}]`);
    }
    const fn: Json = { name: t['name'], parameters: t['parameters'] ?? { type: 'object', properties: {} } };
    if (typeof t['description'] === 'string') fn['description'] = t['description'];
    if (typeof t['strict'] === 'boolean') fn['strict'] = t['strict'];
    return { type: 'function', function: fn };
  });
}

function toolChoice(raw: unknown): unknown {
  if (raw === undefined || raw === null) return undefined;
  if (raw === 'auto' || raw === 'none' || raw === 'required') return raw;
  if (isRecord(raw) && raw['type'] === 'function' && typeof raw['name'] === 'string') return { type: 'function', function: { name: raw['name'] } };
  throw bad('"tool_choice" must be auto, none, required or {"type":"function","name":…} for this backend.', 'tool_choice');
}

function responseFormat(text: unknown): Json | undefined {
  if (!isRecord(text)) return undefined;
  const f = text['format'];
  if (!isRecord(f) || f['type'] === 'text') return undefined;
  if (f['type'] === 'json_object') return { type: 'json_object' };
  if (f['type'] === 'json_schema') {
    if (typeof f['name'] !== 'string' || !isRecord(f['schema'])) throw bad('A json_schema format needs "name" and "schema".', 'text.format');
    const js: Json = { name: f['name'], schema: f['schema'] };
    if (typeof f['strict'] === 'boolean') js['strict'] = f['strict'];
    if (typeof f['description'] === 'string') js['description'] = f['description'];
    return { type: 'json_schema', json_schema: js };
  }
  throw bad('"text.format.type" must be text, json_object or json_schema.', 'text.format.type');
}

/** The chat completions body for a Responses request, with `history` (earlier turns' items) first. */
export function responsesToChat(body: Readonly<Json>, history: readonly Json[]): Json {
  const model = body['model'];
  if (typeof model !== 'string' || model === '') throw bad('"model" must be a non-empty string.', 'model');
  const messages = messagesOf([...history, ...inputItems(body)], body['instructions']);
  const req: Json = { model, messages };
  const t = tools(body['tools']);
  if (t !== undefined) req['tools'] = t;
  const tc = toolChoice(body['tool_choice']);
  if (tc !== undefined) req['tool_choice'] = tc;
  if (typeof body['parallel_tool_calls'] === 'boolean' && t !== undefined) req['parallel_tool_calls'] = body['parallel_tool_calls'];
  const rf = responseFormat(body['text']);
  if (rf !== undefined) req['response_format'] = rf;
  const max = body['max_output_tokens'];
  if (max !== undefined && max !== null) {
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw bad('"max_output_tokens" must be a whole number of at least 1.', 'max_output_tokens');
    req['max_completion_tokens'] = max;
  }
  const reasoning = body['reasoning'];
  if (isRecord(reasoning) && typeof reasoning['effort'] === 'string') req['reasoning_effort'] = reasoning['effort'];
  for (const k of ['temperature', 'top_p', 'top_logprobs'] as const) if (typeof body[k] === 'number') req[k] = body[k];
  if (typeof body['top_logprobs'] === 'number') req['logprobs'] = true;
  const user = body['safety_identifier'] ?? body['user'];
  if (typeof user === 'string') req['user'] = user;
  if (body['stream'] === true) {
    req['stream'] = true;
    req['stream_options'] = { include_usage: true };
  }
  return req;
}
