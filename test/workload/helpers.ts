import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ChatMessage } from '../../src/protocol/openai.js';
import { countChatTokens, loadTokenizer } from '../../src/tokenizer/index.js';
import { readSessions, type ReplaySession } from '../../src/workload/reader.js';
import { checkChatBody } from '../../src/workload/validate.js';

export const FIXTURES = join(import.meta.dirname, 'fixtures');

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `tollgate-${prefix}-`));
}

export async function readAll(dir: string, opts: Parameters<typeof readSessions>[1] = {}): Promise<ReplaySession[]> {
  const out: ReplaySession[] = [];
  for await (const s of readSessions(dir, opts)) out.push(s);
  return out;
}

/**
 * Every body parses, passes the strict validator, and agrees with its envelope: max_tokens is
 * output_tokens, stream flags match, len is the byte length, prompt_tokens is the project's count.
 */
export async function checkCorpus(dir: string): Promise<ReplaySession[]> {
  const tok = await loadTokenizer('o200k_harmony');
  const sessions = await readAll(dir);
  for (const s of sessions) {
    s.turns.forEach((t, k) => {
      const body = JSON.parse(t.body.toString('utf8')) as { messages: ChatMessage[]; tools?: unknown[]; max_tokens: number; stream?: boolean; stream_options?: unknown };
      expect(checkChatBody(body), `${s.sid} turn ${k}`).toEqual([]);
      expect(t.meta.turn).toBe(k);
      expect(t.meta.len).toBe(t.body.length);
      expect(body.max_tokens).toBe(t.meta.output_tokens);
      expect(body.stream === true).toBe(t.meta.stream);
      const tools = body.tools === undefined ? 0 : tok.count(JSON.stringify(body.tools));
      expect(t.meta.prompt_tokens, `${s.sid} turn ${k} prompt tokens`).toBe(countChatTokens(tok, body.messages) + tools);
      const last = body.messages[body.messages.length - 1];
      expect(last?.role).not.toBe('assistant');
    });
  }
  return sessions;
}
