// Gemini generateContent / embedContent requests → OpenAI chat completions / embeddings requests (the
// pivot), for backends that do not speak Gemini. Function calls pair with their responses by id when
// the client sends one, else by name in call order (as Gemini itself pairs them). What cannot be
// carried is refused with the field named: built-in tools (Google Search, code execution), non-image
// file parts, several candidates.
import { GatewayError } from '../../core/errors.js';
import { isRecord, type Json } from '../../providers/shared/json.js';
import { jsonSchemaOf, pivotSchema } from './schema.js';

function bad(message: string, param: string): GatewayError {
  return new GatewayError('invalid_body', message, { param });
}

function partsOf(c: unknown, param: string): Json[] {
  if (!isRecord(c)) throw bad('Each content must be an object with "parts".', param);
  const parts = c['parts'];
  if (!Array.isArray(parts)) throw bad('"parts" must be an array.', `${param}.parts`);
  return parts.map((p, i) => {
    if (!isRecord(p)) throw bad('Each part must be an object.', `${param}.parts[${i}]`);
    return p;
  });
}

function mediaPart(p: Json, where: string): Json {
  const inline = p['inlineData'];
  if (isRecord(inline) && typeof inline['mimeType'] === 'string' && typeof inline['data'] === 'string') {
    if (!inline['mimeType'].startsWith('image/')) throw bad(`Inline ${inline['mimeType']} data cannot be translated for this backend; only images can.`, `${where}.inlineData`);
    return { type: 'image_url', image_url: { url: `data:${inline['mimeType']};base64,${inline['data']}` } };
  }
  const file = p['fileData'];
  if (isRecord(file) && typeof file['fileUri'] === 'string' && (typeof file['mimeType'] !== 'string' || file['mimeType'].startsWith('image/'))) {
    return { type: 'image_url', image_url: { url: file['fileUri'] } };
  }
  throw bad('This part cannot be translated for this backend; use text, image inlineData or image fileData parts.', where);
}

function systemText(si: unknown): string | undefined {
  if (si === undefined || si === null) return undefined;
  if (typeof si === 'string') return si;
  return partsOf(si, 'systemInstruction')
    .map((p) => (typeof p['text'] === 'string' ? p['text'] : ''))
    .join('');
}

/**
 * What every generateContent request needs whichever backend serves it (Gemini refuses the same):
 * checked before routing, so a malformed request spends no rate limit and gets Gemini's error.
 */
export function checkGenerateBody(body: Readonly<Json>): void {
  const contents = body['contents'];
  if (!Array.isArray(contents) || contents.length === 0) throw bad('"contents" must be a non-empty array.', 'contents');
  contents.forEach((c, i) => {
    partsOf(c, `contents[${i}]`);
    const role = isRecord(c) ? c['role'] : undefined;
    if (role !== undefined && role !== 'user' && role !== 'model' && role !== 'function') throw bad('"role" must be user or model.', `contents[${i}].role`);
  });
}

function messagesOf(contents: unknown, system: string | undefined): Json[] {
  if (!Array.isArray(contents) || contents.length === 0) throw bad('"contents" must be a non-empty array.', 'contents');
  const out: Json[] = [];
  if (system !== undefined && system !== '') out.push({ role: 'system', content: system });
  // Call ids not yet answered, per function name, oldest first.
  const pending = new Map<string, string[]>();
  let n = 0;
  contents.forEach((c, i) => {
    const param = `contents[${i}]`;
    const parts = partsOf(c, param);
    const role = isRecord(c) ? (c['role'] ?? 'user') : 'user';
    if (role === 'model') {
      let text = '';
      const calls: Json[] = [];
      parts.forEach((p, j) => {
        if (p['thought'] === true) return;
        const fc = p['functionCall'];
        if (isRecord(fc)) {
          if (typeof fc['name'] !== 'string') throw bad('A functionCall needs "name".', `${param}.parts[${j}].functionCall`);
          const id = typeof fc['id'] === 'string' && fc['id'] !== '' ? fc['id'] : `call_${n++}_${fc['name']}`;
          pending.set(fc['name'], [...(pending.get(fc['name']) ?? []), id]);
          calls.push({ id, type: 'function', function: { name: fc['name'], arguments: JSON.stringify(fc['args'] ?? {}) } });
        } else if (typeof p['text'] === 'string') text += p['text'];
      });
      const m: Json = { role: 'assistant', content: text === '' && calls.length > 0 ? null : text };
      if (calls.length > 0) m['tool_calls'] = calls;
      out.push(m);
      return;
    }
    if (role !== 'user' && role !== 'function') throw bad('"role" must be user or model.', `${param}.role`);
    const user: Json[] = [];
    parts.forEach((p, j) => {
      const where = `${param}.parts[${j}]`;
      const fr = p['functionResponse'];
      if (isRecord(fr)) {
        if (typeof fr['name'] !== 'string') throw bad('A functionResponse needs "name".', `${where}.functionResponse`);
        const queue = pending.get(fr['name']) ?? [];
        const id = typeof fr['id'] === 'string' && queue.includes(fr['id']) ? fr['id'] : queue[0];
        if (id === undefined) throw bad(`functionResponse "${fr['name']}" answers no earlier functionCall of that name.`, `${where}.functionResponse`);
        pending.set(fr['name'], queue.filter((q) => q !== id));
        out.push({ role: 'tool', tool_call_id: id, content: JSON.stringify(fr['response'] ?? {}) });
      } else if (typeof p['text'] === 'string') user.push({ type: 'text', text: p['text'] });
      else user.push(mediaPart(p, where));
    });
    if (user.length > 0) out.push({ role: 'user', content: user.length === 1 && user[0]?.['type'] === 'text' ? user[0]['text'] : user });
  });
  return out;
}

function toolsOf(raw: unknown): Json[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw bad('"tools" must be an array.', 'tools');
  const out: Json[] = [];
  raw.forEach((t, i) => {
    if (!isRecord(t)) throw bad('Each tool must be an object.', `tools[${i}]`);
    for (const k of Object.keys(t)) {
      if (k !== 'functionDeclarations') throw bad(`Tool "${k}" runs only on Gemini backends; through translation use functionDeclarations.`, `tools[${i}].${k}`);
    }
    const decls = t['functionDeclarations'];
    if (!Array.isArray(decls)) return;
    decls.forEach((d, j) => {
      if (!isRecord(d) || typeof d['name'] !== 'string') throw bad('A function declaration needs "name".', `tools[${i}].functionDeclarations[${j}]`);
      const parameters = d['parametersJsonSchema'] ?? (d['parameters'] === undefined ? { type: 'object', properties: {} } : jsonSchemaOf(d['parameters']));
      out.push({ type: 'function', function: { name: d['name'], ...(typeof d['description'] === 'string' ? { description: d['description'] } : {}), parameters } });
    });
  });
  return out.length === 0 ? undefined : out;
}

function toolChoiceOf(cfg: unknown): unknown {
  if (!isRecord(cfg) || !isRecord(cfg['functionCallingConfig'])) return undefined;
  const f = cfg['functionCallingConfig'];
  const names = Array.isArray(f['allowedFunctionNames']) ? (f['allowedFunctionNames'] as unknown[]) : [];
  switch (f['mode']) {
    case undefined:
    case 'AUTO':
      return 'auto';
    case 'NONE':
      return 'none';
    case 'ANY':
    case 'VALIDATED':
      return names.length === 1 && typeof names[0] === 'string' ? { type: 'function', function: { name: names[0] } } : 'required';
    default:
      throw bad('"functionCallingConfig.mode" must be AUTO, ANY, VALIDATED or NONE.', 'toolConfig.functionCallingConfig.mode');
  }
}

/** Thinking budget → the effort whose budget (as the gateway sends efforts to Gemini) is nearest. */
function effortOf(budget: number): string {
  if (budget === 0) return 'none';
  // -1 asks Gemini to decide the budget itself.
  if (budget < 0) return 'medium';
  if (budget <= 1024) return 'low';
  if (budget <= 8192) return 'medium';
  return 'high';
}

function generationConfig(req: Json, g: unknown): void {
  if (g === undefined || g === null) return;
  if (!isRecord(g)) throw bad('"generationConfig" must be an object.', 'generationConfig');
  const map = [
    ['temperature', 'temperature'],
    ['topP', 'top_p'],
    ['topK', 'top_k'],
    ['maxOutputTokens', 'max_completion_tokens'],
    ['presencePenalty', 'presence_penalty'],
    ['frequencyPenalty', 'frequency_penalty'],
    ['seed', 'seed'],
    ['candidateCount', 'n'],
  ] as const;
  for (const [from, to] of map) if (typeof g[from] === 'number') req[to] = g[from];
  if (Array.isArray(g['stopSequences']) && g['stopSequences'].length > 0) req['stop'] = g['stopSequences'];
  const schema = pivotSchema(g);
  if (schema !== undefined) req['response_format'] = { type: 'json_schema', json_schema: { name: 'response', schema } };
  else if (g['responseMimeType'] === 'application/json') req['response_format'] = { type: 'json_object' };
  if (g['responseLogprobs'] === true) {
    req['logprobs'] = true;
    if (typeof g['logprobs'] === 'number') req['top_logprobs'] = g['logprobs'];
  }
  const t = g['thinkingConfig'];
  if (isRecord(t)) {
    if (typeof t['thinkingBudget'] === 'number') req['reasoning_effort'] = effortOf(t['thinkingBudget']);
    else if (typeof t['thinkingLevel'] === 'string') req['reasoning_effort'] = t['thinkingLevel'].toLowerCase();
  }
}

export function generateToChat(body: Readonly<Json>, model: string, stream: boolean): Json {
  const req: Json = { model, messages: messagesOf(body['contents'], systemText(body['systemInstruction'])) };
  const tools = toolsOf(body['tools']);
  if (tools !== undefined) {
    req['tools'] = tools;
    const tc = toolChoiceOf(body['toolConfig']);
    if (tc !== undefined) req['tool_choice'] = tc;
  }
  generationConfig(req, body['generationConfig']);
  if (stream) {
    req['stream'] = true;
    req['stream_options'] = { include_usage: true };
  }
  return req;
}

/** The chat messages a generateContent or countTokens body amounts to (for the gateway's own count). */
export function countableChat(body: Readonly<Json>, model: string): Json {
  const inner = isRecord(body['generateContentRequest']) ? body['generateContentRequest'] : body;
  return generateToChat(inner, model, false);
}

function embedText(content: unknown, param: string): string {
  return partsOf(content, param)
    .map((p) => (typeof p['text'] === 'string' ? p['text'] : ''))
    .join('');
}

/** embedContent (one content) or batchEmbedContents (`requests`, one embedding each) → one embeddings request. */
export function embedToEmbeddings(body: Readonly<Json>, model: string, batch: boolean): Json {
  if (!batch) {
    const req: Json = { model, input: [embedText(body['content'], 'content')] };
    if (typeof body['outputDimensionality'] === 'number') req['dimensions'] = body['outputDimensionality'];
    return req;
  }
  const requests = body['requests'];
  if (!Array.isArray(requests) || requests.length === 0) throw bad('"requests" must be a non-empty array.', 'requests');
  const input = requests.map((r, i) => embedText(isRecord(r) ? r['content'] : undefined, `requests[${i}].content`));
  const first: unknown = requests[0];
  const dims = isRecord(first) ? first['outputDimensionality'] : undefined;
  return typeof dims === 'number' ? { model, input, dimensions: dims } : { model, input };
}
