import { describe, expect, it } from 'vitest';
import { checkChatBody, checkMessages } from '../../src/workload/validate.js';

const call = (id: string) => ({ id, type: 'function', function: { name: 'f', arguments: '{}' } });

describe('strict request validator', () => {
  it('accepts a well-formed tool conversation', () => {
    expect(
      checkChatBody({
        model: 'm',
        messages: [
          { role: 'system', content: 's' },
          { role: 'user', content: [{ type: 'text', text: 'hi' }] },
          { role: 'assistant', content: null, tool_calls: [call('a'), call('b')] },
          { role: 'tool', tool_call_id: 'b', content: 'x' },
          { role: 'tool', tool_call_id: 'a', content: 'y' },
        ],
        max_tokens: 5,
        stream: true,
        stream_options: { include_usage: true },
      }),
    ).toEqual([]);
  });

  it('rejects the legacy function role, as vLLM does', () => {
    expect(checkMessages([{ role: 'user', content: 'q' }, { role: 'function', name: 'f', content: '4' }]).join()).toMatch(/role "function"/);
  });

  it('rejects tool results that answer no call, and calls left unanswered', () => {
    expect(checkMessages([{ role: 'user', content: 'q' }, { role: 'tool', tool_call_id: 'zz', content: 'r' }]).join()).toMatch(/answers no pending tool call/);
    expect(checkMessages([{ role: 'user', content: 'q' }, { role: 'assistant', content: '', tool_calls: [call('a')] }, { role: 'user', content: 'again' }]).join()).toMatch(/have no tool message/);
  });

  it('rejects wrong content types, unknown fields and bad parameters', () => {
    expect(checkMessages([{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'x' } }] }]).join()).toMatch(/not allowed/);
    expect(checkMessages([{ role: 'user', content: 'q', train: true }]).join()).toMatch(/unexpected field "train"/);
    expect(checkMessages([{ role: 'assistant', content: null }]).join()).toMatch(/needs content or tool_calls/);
    expect(checkMessages([{ role: 'assistant', content: '', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: {} } }] }]).join()).toMatch(/arguments must be a string/);
    expect(checkChatBody({ model: 'm', messages: [{ role: 'user', content: 'q' }], max_tokens: 0 }).join()).toMatch(/max_tokens/);
    expect(checkChatBody({ model: 'm', messages: [{ role: 'user', content: 'q' }], stream_options: { include_usage: true } }).join()).toMatch(/only allowed with stream/);
  });
});
