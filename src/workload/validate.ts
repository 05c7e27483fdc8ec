// A strict check of chat-completion request bodies, as strict as the servers the corpus is replayed
// against: vLLM validates requests with pydantic models of the OpenAI schema and rejects the legacy
// `function` role (the whitepaper's HTTP 400 trap); OpenAI additionally requires every tool call to
// be answered by a `tool` message before the conversation moves on. Every body the workload tools
// emit must pass; the tests check each one, and the unroller checks each session before writing.

const ROLE_KEYS: Readonly<Record<string, ReadonlySet<string>>> = {
  system: new Set(['role', 'content', 'name']),
  developer: new Set(['role', 'content', 'name']),
  user: new Set(['role', 'content', 'name']),
  assistant: new Set(['role', 'content', 'name', 'tool_calls', 'refusal']),
  tool: new Set(['role', 'content', 'tool_call_id']),
};

const BODY_KEYS = new Set([
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'stream', 'stream_options', 'tools', 'tool_choice',
  'temperature', 'top_p', 'n', 'stop', 'seed', 'user', 'min_tokens', 'ignore_eos',
]);

/** Problems with one message list (empty when valid); each names the message index and what is wrong. */
export function checkMessages(messages: unknown): string[] {
  const problems: string[] = [];
  if (!Array.isArray(messages)) return ['messages must be an array'];
  if (messages.length === 0) return ['messages must not be empty'];
  let pending: Set<string> | undefined;
  messages.forEach((raw, i) => {
    const at = `messages[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push(`${at} must be an object`);
      return;
    }
    const m = raw as Record<string, unknown>;
    const role = m['role'];
    const allowed = typeof role === 'string' ? ROLE_KEYS[role] : undefined;
    if (allowed === undefined) {
      problems.push(`${at}.role ${JSON.stringify(role)} is not one of system, developer, user, assistant, tool`);
      return;
    }
    for (const k of Object.keys(m)) if (!allowed.has(k)) problems.push(`${at} (${String(role)}) has unexpected field "${k}"`);
    if (m['name'] !== undefined && (typeof m['name'] !== 'string' || m['name'] === '')) problems.push(`${at}.name must be a non-empty string`);

    if (pending !== undefined && pending.size > 0 && role !== 'tool') {
      problems.push(`${at}: tool call(s) ${[...pending].join(', ')} of an earlier assistant message have no tool message`);
      pending = undefined;
    }
    switch (role) {
      case 'system':
      case 'developer':
        checkContent(m['content'], at, false, false, problems);
        break;
      case 'user':
        checkContent(m['content'], at, true, false, problems);
        break;
      case 'assistant': {
        const calls = m['tool_calls'];
        const hasCalls = Array.isArray(calls) && calls.length > 0;
        if (m['content'] === null || m['content'] === undefined) {
          if (!hasCalls) problems.push(`${at}: an assistant message needs content or tool_calls`);
        } else checkContent(m['content'], at, false, true, problems);
        if (calls !== undefined) {
          if (!Array.isArray(calls)) problems.push(`${at}.tool_calls must be an array`);
          else {
            const ids = new Set<string>();
            calls.forEach((c, j) => checkToolCall(c, `${at}.tool_calls[${j}]`, ids, problems));
            pending = ids;
          }
        }
        break;
      }
      case 'tool': {
        checkContent(m['content'], at, false, false, problems);
        const id = m['tool_call_id'];
        if (typeof id !== 'string' || id === '') problems.push(`${at}.tool_call_id must be a non-empty string`);
        else if (pending === undefined || !pending.has(id)) problems.push(`${at}.tool_call_id "${id}" answers no pending tool call of the preceding assistant message`);
        else pending.delete(id);
        break;
      }
    }
  });
  return problems;
}

function checkContent(c: unknown, at: string, allowImages: boolean, allowRefusal: boolean, problems: string[]): void {
  if (typeof c === 'string') return;
  if (!Array.isArray(c)) {
    problems.push(`${at}.content must be a string or an array of content parts`);
    return;
  }
  if (c.length === 0) problems.push(`${at}.content must not be an empty array`);
  c.forEach((p, j) => {
    const pat = `${at}.content[${j}]`;
    if (typeof p !== 'object' || p === null) {
      problems.push(`${pat} must be an object`);
      return;
    }
    const part = p as Record<string, unknown>;
    if (part['type'] === 'text') {
      if (typeof part['text'] !== 'string') problems.push(`${pat}.text must be a string`);
    } else if (part['type'] === 'image_url' && allowImages) {
      const iu = part['image_url'] as Record<string, unknown> | undefined;
      if (typeof iu !== 'object' || iu === null || typeof iu['url'] !== 'string') problems.push(`${pat}.image_url.url must be a string`);
    } else if (part['type'] === 'refusal' && allowRefusal) {
      if (typeof part['refusal'] !== 'string') problems.push(`${pat}.refusal must be a string`);
    } else problems.push(`${pat}.type ${JSON.stringify(part['type'])} is not allowed here`);
  });
}

function checkToolCall(c: unknown, at: string, ids: Set<string>, problems: string[]): void {
  if (typeof c !== 'object' || c === null) {
    problems.push(`${at} must be an object`);
    return;
  }
  const call = c as Record<string, unknown>;
  const id = call['id'];
  if (typeof id !== 'string' || id === '') problems.push(`${at}.id must be a non-empty string`);
  else if (ids.has(id)) problems.push(`${at}.id "${id}" is repeated`);
  else ids.add(id);
  if (call['type'] !== 'function') problems.push(`${at}.type must be "function"`);
  const fn = call['function'] as Record<string, unknown> | undefined;
  if (typeof fn !== 'object' || fn === null) problems.push(`${at}.function must be an object`);
  else {
    if (typeof fn['name'] !== 'string' || fn['name'] === '') problems.push(`${at}.function.name must be a non-empty string`);
    if (typeof fn['arguments'] !== 'string') problems.push(`${at}.function.arguments must be a string (JSON text)`);
  }
  for (const k of Object.keys(call)) if (k !== 'id' && k !== 'type' && k !== 'function') problems.push(`${at} has unexpected field "${k}"`);
}

/** Problems with a `tools` array (OpenAI function tools). */
export function checkTools(tools: unknown): string[] {
  const problems: string[] = [];
  if (!Array.isArray(tools)) return ['tools must be an array'];
  tools.forEach((t, i) => {
    const at = `tools[${i}]`;
    if (typeof t !== 'object' || t === null) return void problems.push(`${at} must be an object`);
    const tool = t as Record<string, unknown>;
    if (tool['type'] !== 'function') problems.push(`${at}.type must be "function"`);
    const fn = tool['function'] as Record<string, unknown> | undefined;
    if (typeof fn !== 'object' || fn === null) return void problems.push(`${at}.function must be an object`);
    if (typeof fn['name'] !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(fn['name'])) problems.push(`${at}.function.name must match ^[A-Za-z0-9_-]{1,64}$`);
    if (fn['description'] !== undefined && typeof fn['description'] !== 'string') problems.push(`${at}.function.description must be a string`);
    const params = fn['parameters'];
    if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) problems.push(`${at}.function.parameters must be a JSON Schema object`);
  });
  return problems;
}

/** Problems with a whole request body (parsed JSON). */
export function checkChatBody(body: unknown): string[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return ['body must be a JSON object'];
  const b = body as Record<string, unknown>;
  const problems: string[] = [];
  for (const k of Object.keys(b)) if (!BODY_KEYS.has(k)) problems.push(`unexpected body field "${k}"`);
  if (typeof b['model'] !== 'string' || b['model'] === '') problems.push('model must be a non-empty string');
  problems.push(...checkMessages(b['messages']));
  for (const k of ['max_tokens', 'max_completion_tokens', 'min_tokens'] as const) {
    const v = b[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1)) problems.push(`${k} must be a positive integer`);
  }
  if (b['stream'] !== undefined && typeof b['stream'] !== 'boolean') problems.push('stream must be a boolean');
  if (b['stream_options'] !== undefined) {
    if (b['stream'] !== true) problems.push('stream_options is only allowed with stream: true');
    const so = b['stream_options'] as Record<string, unknown> | null;
    if (typeof so !== 'object' || so === null || typeof so['include_usage'] !== 'boolean') problems.push('stream_options.include_usage must be a boolean');
  }
  if (b['tools'] !== undefined) problems.push(...checkTools(b['tools']));
  return problems;
}
