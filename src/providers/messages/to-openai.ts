// Anthropic Messages request → OpenAI chat completions request, for the /v1/messages front door when
// the backend does not speak Anthropic (vLLM and every OpenAI-compatible server, and, through their
// own translators, Gemini and Bedrock Converse). Usage is always requested on streams.
import { GatewayError } from '../../core/errors.js';
import { isRecord, type Json } from '../shared/json.js';

function bad(message: string, param: string): GatewayError {
  return new GatewayError('invalid_body', message, { param });
}

function textOf(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw bad('Content must be a string or an array of blocks.', param);
  let s = '';
  content.forEach((b, i) => {
    if (isRecord(b) && b['type'] === 'text' && typeof b['text'] === 'string') s += b['text'];
    else if (!(isRecord(b) && b['type'] === 'image')) throw bad('Only text blocks are allowed here.', `${param}[${i}]`);
  });
  return s;
}

function imagePart(b: Json, param: string): Json {
  const src = b['source'];
  if (!isRecord(src)) throw bad('An image block needs a source.', param);
  if (src['type'] === 'base64' && typeof src['data'] === 'string' && typeof src['media_type'] === 'string') {
    return { type: 'image_url', image_url: { url: `data:${src['media_type']};base64,${src['data']}` } };
  }
  if (src['type'] === 'url' && typeof src['url'] === 'string') return { type: 'image_url', image_url: { url: src['url'] } };
  throw bad('Image sources must be base64 or url for this backend.', param);
}

/** Effort for a thinking budget: the inverse of the budgets the gateway sends for efforts. */
function effortFor(budget: number): string {
  if (budget <= 2048) return 'low';
  if (budget <= 8192) return 'medium';
  return 'high';
}

export function anthropicToOpenAI(body: Readonly<Json>): Json {
  const model = body['model'];
  if (typeof model !== 'string' || model === '') throw bad('"model" must be a non-empty string.', 'model');
  const maxTokens = body['max_tokens'];
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) throw bad('"max_tokens" is required: a whole number of at least 1.', 'max_tokens');
  const msgs = body['messages'];
  if (!Array.isArray(msgs) || msgs.length === 0) throw bad('"messages" must be a non-empty array.', 'messages');

  const out: Json[] = [];
  const system = body['system'];
  if (system !== undefined && system !== null) {
    const text = textOf(system, 'system');
    if (text !== '') out.push({ role: 'system', content: text });
  }
  msgs.forEach((m, i) => {
    const param = `messages[${i}]`;
    if (!isRecord(m)) throw bad('Each message must be an object.', param);
    const role = m['role'];
    const content = m['content'];
    if (role !== 'user' && role !== 'assistant') throw bad('"role" must be user or assistant.', `${param}.role`);
    if (typeof content === 'string') {
      out.push({ role, content });
      return;
    }
    if (!Array.isArray(content)) throw bad('"content" must be a string or an array of blocks.', `${param}.content`);
    if (role === 'assistant') {
      let text = '';
      const calls: Json[] = [];
      content.forEach((b, j) => {
        if (!isRecord(b)) throw bad('Each block must be an object.', `${param}.content[${j}]`);
        switch (b['type']) {
          case 'text':
            text += typeof b['text'] === 'string' ? b['text'] : '';
            return;
          case 'tool_use':
            calls.push({ id: b['id'], type: 'function', function: { name: b['name'], arguments: JSON.stringify(b['input'] ?? {}) } });
            return;
          case 'thinking':
          case 'redacted_thinking':
            // OpenAI-compatible servers take no thinking history; the signature cannot be checked there.
            return;
          default:
            throw bad(`Block type ${JSON.stringify(b['type'])} is not supported by this backend.`, `${param}.content[${j}].type`);
        }
      });
      const msg: Json = { role: 'assistant', content: text === '' && calls.length > 0 ? null : text };
      if (calls.length > 0) msg['tool_calls'] = calls;
      out.push(msg);
      return;
    }
    // A user turn: tool results first (OpenAI wants them right after the assistant's calls).
    const parts: Json[] = [];
    content.forEach((b, j) => {
      const where = `${param}.content[${j}]`;
      if (!isRecord(b)) throw bad('Each block must be an object.', where);
      switch (b['type']) {
        case 'tool_result': {
          const c = b['content'];
          let text = c === undefined || c === null ? '' : textOf(c, `${where}.content`);
          if (b['is_error'] === true) text = `Error: ${text}`;
          out.push({ role: 'tool', tool_call_id: b['tool_use_id'], content: text });
          return;
        }
        case 'text':
          parts.push({ type: 'text', text: typeof b['text'] === 'string' ? b['text'] : '' });
          return;
        case 'image':
          parts.push(imagePart(b, where));
          return;
        default:
          throw bad(`Block type ${JSON.stringify(b['type'])} is not supported by this backend.`, `${where}.type`);
      }
    });
    if (parts.length > 0) out.push({ role: 'user', content: parts.length === 1 && parts[0]?.['type'] === 'text' ? parts[0]['text'] : parts });
  });

  const req: Json = { model, messages: out, max_tokens: maxTokens };
  const tools = body['tools'];
  if (Array.isArray(tools) && tools.length > 0) {
    req['tools'] = tools.map((t, i) => {
      if (!isRecord(t) || typeof t['name'] !== 'string' || (t['type'] !== undefined && t['type'] !== 'custom')) {
        throw bad('Only custom tools (name, description, input_schema) are supported by this backend.', `tools[${i}]`);
      }
      return { type: 'function', function: { name: t['name'], ...(typeof t['description'] === 'string' ? { description: t['description'] } : {}), parameters: t['input_schema'] ?? { type: 'object' } } };
    });
  }
  const tc = body['tool_choice'];
  if (isRecord(tc)) {
    switch (tc['type']) {
      case 'auto':
        req['tool_choice'] = 'auto';
        break;
      case 'any':
        req['tool_choice'] = 'required';
        break;
      case 'none':
        req['tool_choice'] = 'none';
        break;
      case 'tool':
        req['tool_choice'] = { type: 'function', function: { name: tc['name'] } };
        break;
      default:
        throw bad('"tool_choice.type" must be auto, any, tool or none.', 'tool_choice.type');
    }
    if (tc['disable_parallel_tool_use'] === true) req['parallel_tool_calls'] = false;
  }
  const stop = body['stop_sequences'];
  if (Array.isArray(stop) && stop.length > 0) req['stop'] = stop;
  for (const [from, to] of [
    ['temperature', 'temperature'],
    ['top_p', 'top_p'],
    ['top_k', 'top_k'],
  ] as const) {
    if (typeof body[from] === 'number') req[to] = body[from];
  }
  const thinking = body['thinking'];
  if (isRecord(thinking) && thinking['type'] === 'enabled' && typeof thinking['budget_tokens'] === 'number') req['reasoning_effort'] = effortFor(thinking['budget_tokens']);
  const meta = body['metadata'];
  if (isRecord(meta) && typeof meta['user_id'] === 'string') req['user'] = meta['user_id'];
  if (body['stream'] === true) {
    req['stream'] = true;
    req['stream_options'] = { include_usage: true };
  }
  return req;
}
