// OpenAI chat completion responses (what every backend's translator yields) → an OpenAI Response:
// one JSON object, or the Responses event stream: response.created, response.in_progress, then per
// output item output_item.added → (content_part.added → output_text.delta… → output_text.done →
// content_part.done | function_call_arguments.delta… → .done | reasoning_text.delta… → .done) →
// output_item.done, and response.completed (response.incomplete when the token budget ran out).
import { randomBytes } from 'node:crypto';
import { encodeSse } from '../../protocol/sse.js';
import { ChatReencoder } from '../../providers/shared/reencode.js';
import { isRecord, parseJson, randomId, type Json } from '../../providers/shared/json.js';
import type { ClientRequest, ResponseTranslator } from '../../providers/types.js';
import { recordFinished, responseShell, responsesErrorEvent, responsesUsage } from './shape.js';

type Kind = 'message' | 'reasoning' | 'function_call';

interface OpenItem {
  readonly kind: Kind;
  readonly index: number;
  readonly id: string;
  /** Chat tool_calls index, for function calls. */
  readonly tool: number;
  readonly callId: string;
  readonly name: string;
  text: string;
}

export class ChatToResponses extends ChatReencoder {
  /** A JSON answer is checked whole before its status goes out (a broken one becomes a 502). */
  readonly buffered: boolean;
  private seq = 0;
  private started = false;
  private finish: string | undefined;
  private item: OpenItem | undefined;
  private readonly output: Json[] = [];
  // Ids name stored conversations: unguessable, not just unique.
  private readonly id = `resp_${randomBytes(24).toString('hex')}`;
  private readonly createdAt = Math.floor(Date.now() / 1000);
  private model: string;

  constructor(
    inner: ResponseTranslator,
    private readonly req: ClientRequest,
  ) {
    super(inner, req.stream);
    this.model = typeof req.body['model'] === 'string' ? req.body['model'] : '';
    this.buffered = !req.stream;
  }

  protected hasFinish(): boolean {
    return this.finish !== undefined;
  }

  protected errorBytes(code: string | undefined, message: string): string {
    return responsesErrorEvent(code ?? 'upstream_error', message, this.seq++).toString('utf8');
  }

  private event(type: string, data: Json): void {
    this.out += encodeSse(JSON.stringify({ type, ...data, sequence_number: this.seq++ }), type);
  }

  private shell(status: string): Json {
    return responseShell(this.req.body, this.id, this.model, this.createdAt, status);
  }

  private begin(): void {
    if (this.started) return;
    this.started = true;
    this.event('response.created', { response: this.shell('in_progress') });
    this.event('response.in_progress', { response: this.shell('in_progress') });
  }

  private open(kind: Kind, tool = -1, callId = '', name = ''): OpenItem {
    this.close();
    const index = this.output.length;
    const id = randomId(kind === 'message' ? 'msg_' : kind === 'reasoning' ? 'rs_' : 'fc_');
    const item: OpenItem = { kind, index, id, tool, callId, name, text: '' };
    this.item = item;
    this.event('response.output_item.added', { output_index: index, item: itemBody(item, 'in_progress') });
    if (kind === 'message') this.event('response.content_part.added', { item_id: id, output_index: index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
    if (kind === 'reasoning') this.event('response.content_part.added', { item_id: id, output_index: index, content_index: 0, part: { type: 'reasoning_text', text: '' } });
    return item;
  }

  private close(): void {
    const it = this.item;
    if (it === undefined) return;
    this.item = undefined;
    const at = { item_id: it.id, output_index: it.index };
    switch (it.kind) {
      case 'message':
        this.event('response.output_text.done', { ...at, content_index: 0, text: it.text, logprobs: [] });
        this.event('response.content_part.done', { ...at, content_index: 0, part: { type: 'output_text', text: it.text, annotations: [] } });
        break;
      case 'reasoning':
        this.event('response.reasoning_text.done', { ...at, content_index: 0, text: it.text });
        this.event('response.content_part.done', { ...at, content_index: 0, part: { type: 'reasoning_text', text: it.text } });
        break;
      case 'function_call':
        this.event('response.function_call_arguments.done', { ...at, name: it.name, arguments: it.text });
        break;
    }
    const done = itemBody(it, 'completed');
    this.output.push(done);
    this.event('response.output_item.done', { output_index: it.index, item: done });
  }

  protected onChunk(c: Json): void {
    if (typeof c['model'] === 'string' && !this.started) this.model = c['model'];
    this.begin();
    const choices = Array.isArray(c['choices']) ? (c['choices'] as unknown[]) : [];
    const choice = choices[0];
    if (!isRecord(choice)) return;
    const d = isRecord(choice['delta']) ? choice['delta'] : {};
    const reasoning = typeof d['reasoning_content'] === 'string' ? d['reasoning_content'] : typeof d['reasoning'] === 'string' ? d['reasoning'] : '';
    if (reasoning !== '') {
      const it = this.item?.kind === 'reasoning' ? this.item : this.open('reasoning');
      it.text += reasoning;
      this.event('response.reasoning_text.delta', { item_id: it.id, output_index: it.index, content_index: 0, delta: reasoning });
    }
    if (typeof d['content'] === 'string' && d['content'] !== '') {
      const it = this.item?.kind === 'message' ? this.item : this.open('message');
      it.text += d['content'];
      this.event('response.output_text.delta', { item_id: it.id, output_index: it.index, content_index: 0, delta: d['content'], logprobs: [] });
    }
    if (Array.isArray(d['tool_calls'])) {
      for (const tc of d['tool_calls'] as unknown[]) {
        if (!isRecord(tc)) continue;
        const idx = typeof tc['index'] === 'number' ? tc['index'] : 0;
        const fn = isRecord(tc['function']) ? tc['function'] : {};
        let it = this.item;
        if (it?.kind !== 'function_call' || it.tool !== idx) {
          it = this.open('function_call', idx, typeof tc['id'] === 'string' ? tc['id'] : randomId('call_'), typeof fn['name'] === 'string' ? fn['name'] : '');
        }
        if (typeof fn['arguments'] === 'string' && fn['arguments'] !== '') {
          it.text += fn['arguments'];
          this.event('response.function_call_arguments.delta', { item_id: it.id, output_index: it.index, delta: fn['arguments'] });
        }
      }
    }
    if (typeof choice['finish_reason'] === 'string') this.finish = choice['finish_reason'];
  }

  private final(): Json {
    const r = this.shell(this.finish === 'length' || this.finish === 'content_filter' ? 'incomplete' : 'completed');
    if (r['status'] === 'incomplete') r['incomplete_details'] = { reason: this.finish === 'length' ? 'max_output_tokens' : 'content_filter' };
    r['output'] = this.output;
    r['usage'] = responsesUsage(this.inner.result().usage);
    recordFinished(this.req, r);
    return r;
  }

  protected complete(): void {
    if (this.finished) return;
    this.finished = true;
    this.begin();
    this.close();
    const r = this.final();
    this.event(r['status'] === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: r });
  }

  protected jsonBody(): Buffer | null {
    const r = parseJson(Buffer.concat(this.json));
    if (!isRecord(r)) return this.json.length === 0 ? null : Buffer.concat(this.json);
    if (typeof r['model'] === 'string') this.model = r['model'];
    const choices = Array.isArray(r['choices']) ? (r['choices'] as unknown[]) : [];
    const choice = isRecord(choices[0]) ? choices[0] : {};
    const m = isRecord(choice['message']) ? choice['message'] : {};
    const add = (kind: Kind, text: string, tool = -1, callId = '', name = ''): void => {
      this.output.push(itemBody({ kind, index: this.output.length, id: randomId(kind === 'message' ? 'msg_' : kind === 'reasoning' ? 'rs_' : 'fc_'), tool, callId, name, text }, 'completed'));
    };
    const reasoning = typeof m['reasoning_content'] === 'string' ? m['reasoning_content'] : typeof m['reasoning'] === 'string' ? m['reasoning'] : '';
    if (reasoning !== '') add('reasoning', reasoning);
    if (typeof m['content'] === 'string' && m['content'] !== '') add('message', m['content']);
    const calls = Array.isArray(m['tool_calls']) ? (m['tool_calls'] as unknown[]) : [];
    calls.forEach((tc, i) => {
      if (!isRecord(tc) || !isRecord(tc['function'])) return;
      const fn = tc['function'];
      add('function_call', typeof fn['arguments'] === 'string' ? fn['arguments'] : '{}', i, typeof tc['id'] === 'string' ? tc['id'] : randomId('call_'), typeof fn['name'] === 'string' ? fn['name'] : '');
    });
    this.finish = typeof choice['finish_reason'] === 'string' ? choice['finish_reason'] : 'stop';
    return Buffer.from(JSON.stringify(this.final()));
  }
}

function itemBody(it: OpenItem, status: 'in_progress' | 'completed'): Json {
  const done = status === 'completed';
  switch (it.kind) {
    case 'message':
      return { id: it.id, type: 'message', status, role: 'assistant', content: done ? [{ type: 'output_text', text: it.text, annotations: [], logprobs: [] }] : [] };
    case 'reasoning':
      return { id: it.id, type: 'reasoning', summary: [], ...(done ? { content: [{ type: 'reasoning_text', text: it.text }] } : {}) };
    case 'function_call':
      return { id: it.id, type: 'function_call', status, call_id: it.callId, name: it.name, arguments: done ? it.text : '' };
  }
}
