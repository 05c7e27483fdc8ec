// OpenAI chat completion responses → Anthropic Messages responses, for the /v1/messages front door.
// It wraps the backend's own translator (which yields OpenAI bytes and the exact native usage) and
// rewrites its output: one `message` JSON, or the event sequence Anthropic clients parse
// (message_start, ping, content_block_start / _delta / _stop per block, message_delta, message_stop).
import type { AnthropicStopReason } from '../../protocol/anthropic.js';
import { encodeSse } from '../../protocol/sse.js';
import { anthropicFromFinish, anthropicUsageBody } from '../anthropic/usage.js';
import { isRecord, parseJson, randomId, type Json } from '../shared/json.js';
import { ChatReencoder } from '../shared/reencode.js';
import type { ResponseTranslator } from '../types.js';

export function anthropicErrorEvent(code: string, message: string): Buffer {
  const type = code === 'upstream_rate_limited' ? 'rate_limit_error' : code === 'upstream_unavailable' ? 'overloaded_error' : 'api_error';
  return Buffer.from(encodeSse(JSON.stringify({ type: 'error', error: { type, message } }), 'error'));
}

export { midStreamMessage } from '../shared/reencode.js';

export class OpenAIToAnthropic extends ChatReencoder {
  private started = false;
  private block: { kind: 'text' | 'thinking' | 'tool'; index: number; tool: number } | undefined;
  private blocks = 0;
  private stop: AnthropicStopReason | undefined;
  private model: string;
  private readonly id = randomId('msg_');

  constructor(inner: ResponseTranslator, model: string, stream: boolean) {
    super(inner, stream);
    this.model = model;
  }

  protected hasFinish(): boolean {
    return this.stop !== undefined;
  }

  protected errorBytes(code: string | undefined, message: string): string {
    return anthropicErrorEvent(code ?? '', message).toString('utf8');
  }

  private event(type: string, data: Json): void {
    this.out += encodeSse(JSON.stringify({ type, ...data }), type);
  }

  private begin(): void {
    if (this.started) return;
    this.started = true;
    this.event('message_start', {
      message: { id: this.id, type: 'message', role: 'assistant', model: this.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } },
    });
    this.event('ping', {});
  }

  private open(kind: 'text' | 'thinking' | 'tool', tool = -1, id = '', name = ''): void {
    this.close();
    const index = this.blocks++;
    this.block = { kind, index, tool };
    const content_block = kind === 'text' ? { type: 'text', text: '' } : kind === 'thinking' ? { type: 'thinking', thinking: '', signature: '' } : { type: 'tool_use', id, name, input: {} };
    this.event('content_block_start', { index, content_block });
  }

  private close(): void {
    if (this.block === undefined) return;
    this.event('content_block_stop', { index: this.block.index });
    this.block = undefined;
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
      if (this.block?.kind !== 'thinking') this.open('thinking');
      this.event('content_block_delta', { index: this.block?.index, delta: { type: 'thinking_delta', thinking: reasoning } });
    }
    if (typeof d['content'] === 'string' && d['content'] !== '') {
      if (this.block?.kind !== 'text') this.open('text');
      this.event('content_block_delta', { index: this.block?.index, delta: { type: 'text_delta', text: d['content'] } });
    }
    if (Array.isArray(d['tool_calls'])) {
      for (const tc of d['tool_calls'] as unknown[]) {
        if (!isRecord(tc)) continue;
        const idx = typeof tc['index'] === 'number' ? tc['index'] : 0;
        const fn = isRecord(tc['function']) ? tc['function'] : {};
        if (this.block?.kind !== 'tool' || this.block.tool !== idx) {
          const id = typeof tc['id'] === 'string' ? tc['id'] : randomId('toolu_');
          this.open('tool', idx, id, typeof fn['name'] === 'string' ? fn['name'] : '');
        }
        if (typeof fn['arguments'] === 'string' && fn['arguments'] !== '') {
          this.event('content_block_delta', { index: this.block?.index, delta: { type: 'input_json_delta', partial_json: fn['arguments'] } });
        }
      }
    }
    if (typeof choice['finish_reason'] === 'string') this.stop = anthropicFromFinish(choice['finish_reason']);
  }

  protected complete(): void {
    if (this.finished) return;
    this.finished = true;
    this.begin();
    this.close();
    this.event('message_delta', { delta: { stop_reason: this.stop ?? 'end_turn', stop_sequence: null }, usage: anthropicUsageBody(this.inner.result().usage) });
    this.event('message_stop', {});
  }

  protected jsonBody(): Buffer | null {
    const r = parseJson(Buffer.concat(this.json));
    if (!isRecord(r)) return this.json.length === 0 ? null : Buffer.concat(this.json);
    const choices = Array.isArray(r['choices']) ? (r['choices'] as unknown[]) : [];
    const choice = isRecord(choices[0]) ? choices[0] : {};
    const m = isRecord(choice['message']) ? choice['message'] : {};
    const content: Json[] = [];
    const reasoning = typeof m['reasoning_content'] === 'string' ? m['reasoning_content'] : typeof m['reasoning'] === 'string' ? m['reasoning'] : '';
    if (reasoning !== '') content.push({ type: 'thinking', thinking: reasoning, signature: '' });
    if (typeof m['content'] === 'string' && m['content'] !== '') content.push({ type: 'text', text: m['content'] });
    for (const tc of Array.isArray(m['tool_calls']) ? (m['tool_calls'] as unknown[]) : []) {
      if (!isRecord(tc) || !isRecord(tc['function'])) continue;
      const fn = tc['function'];
      const args = typeof fn['arguments'] === 'string' ? parseJson(fn['arguments'] === '' ? '{}' : fn['arguments']) : {};
      content.push({ type: 'tool_use', id: typeof tc['id'] === 'string' ? tc['id'] : randomId('toolu_'), name: fn['name'], input: isRecord(args) ? args : {} });
    }
    return Buffer.from(
      JSON.stringify({
        id: this.id,
        type: 'message',
        role: 'assistant',
        model: typeof r['model'] === 'string' ? r['model'] : this.model,
        content,
        stop_reason: anthropicFromFinish(choice['finish_reason'] as string | undefined),
        stop_sequence: null,
        usage: anthropicUsageBody(this.inner.result().usage),
      }),
    );
  }
}
