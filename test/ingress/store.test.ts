// The embedded Responses store: bounded by bytes (oldest responses go first), and records expire.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MemoryResponseStore, type StoredResponse } from '../../src/ingress/responses/store.js';

function record(text: string): StoredResponse {
  return { scope: 's', previousId: undefined, input: [], response: { id: 'x', output: [{ type: 'message', content: [{ type: 'output_text', text }] }] } };
}

describe('MemoryResponseStore', () => {
  it('drops the oldest responses beyond its byte budget', async () => {
    const store = new MemoryResponseStore(60_000, 2_000);
    for (let i = 0; i < 10; i++) await store.put(`r${i}`, record('x'.repeat(400)));
    expect(await store.get('r0')).toBeUndefined();
    expect((await store.get('r9'))?.scope).toBe('s');
    let kept = 0;
    for (let i = 0; i < 10; i++) if ((await store.get(`r${i}`)) !== undefined) kept++;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(10);
  });

  it('forgets a response after its TTL and on delete', async () => {
    const store = new MemoryResponseStore(20, 1_000_000);
    await store.put('a', record('a'));
    await store.put('b', record('b'));
    expect(await store.delete('b')).toBe(true);
    expect(await store.get('b')).toBeUndefined();
    await sleep(40);
    expect(await store.get('a')).toBeUndefined();
  });
});
