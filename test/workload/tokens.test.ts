import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer, type Tokenizer } from '../../src/tokenizer/index.js';
import { TokenCounter } from '../../src/workload/tokens.js';

let tok: Tokenizer;
beforeAll(async () => {
  tok = await loadTokenizer('o200k_harmony');
});

// Characters that exercise every branch of the split pattern, ASCII and not.
const TRICKY = [
  'a', 'b', 'Z', 'Q', 'e', 's', 't', 'l', 'd', 'm', 'r', 'v', "'", '0', '7', '9', ' ', ' ', '\t', '\n', '\r', '\v', '\f',
  '/', '.', ',', '(', ')', '{', '}', '"', '-', '_', '=', '*', '#', '\x00', '\x1b', '\x7f',
  'é', 'É', 'ß', '中', '文', '😀', '\u00a0', '\u3000', '\u2028', '٣', '—', '’', 'ǅ', '\u0301',
];

// The o200k split pattern (tiktoken's), to cut test text into pre-tokens.
const SPLIT = /[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'(?:[sS]|[dD]|[mM]|[tT]|[lL][lL]|[vV][eE]|[rR][eE]))?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'(?:[sS]|[dD]|[mM]|[tT]|[lL][lL]|[vV][eE]|[rR][eE]))?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

describe('Tokenizer.countPretoken', () => {
  it('equals count() on every pre-token of real source and prose, ASCII or not', () => {
    const text = readFileSync(join(import.meta.dirname, '../../src/workload/tokens.ts'), 'utf8') + readFileSync(join(import.meta.dirname, '../../docs/workload.md'), 'utf8');
    const pieces = new Set(text.match(SPLIT) ?? []);
    expect(pieces.size).toBeGreaterThan(500);
    for (const p of pieces) expect(tok.countPretoken(p), JSON.stringify(p)).toBe(tok.count(p));
  });

  it('equals count() on the pre-tokens of random ASCII (hashes, identifiers, punctuation runs)', () => {
    const text = fc.oneof(
      fc.stringMatching(/^( ?[a-zA-Z]{1,24})+$/),
      fc.stringMatching(/^[0-9a-f_]{1,40}$/),
      fc.stringMatching(/^( ?[!-/:-@[-`{-~]{1,12}[\r\n/]*)+$/),
      fc.stringMatching(/^[ \t\n]{1,12}$/),
      fc.string({ maxLength: 40 }),
    );
    fc.assert(
      fc.property(text, (t) => {
        for (const p of t.match(SPLIT) ?? []) expect(tok.countPretoken(p), JSON.stringify(p)).toBe(tok.count(p));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('TokenCounter', () => {
  it('matches the tokenizer on random strings over a tricky alphabet', () => {
    const counter = new TokenCounter(tok);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TRICKY), { maxLength: 60 }), (chars) => {
        const s = chars.join('');
        expect(counter.count(s)).toBe(tok.count(s));
      }),
      { numRuns: 3000 },
    );
  });

  it('matches the tokenizer on random words, numbers and punctuation', () => {
    const counter = new TokenCounter(tok);
    const piece = fc.oneof(
      fc.constantFrom('the', 'The', 'HTTPServer', 'don', "'t", "'LL", 'x', 'ABC', 'camelCase', 'snake_case'),
      fc.integer({ min: 0, max: 1e7 }).map(String),
      fc.constantFrom(' ', '  ', '   ', '\n', '\n\n', ' \n', '\r\n', '\t', '\n    ', '//', '/', ');\n', '{\n', '"', '", "', ': ', '...'),
      fc.string({ maxLength: 4 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (parts) => {
        const s = parts.join('');
        expect(counter.count(s)).toBe(tok.count(s));
      }),
      { numRuns: 3000 },
    );
  });

  it('matches the tokenizer on real source and prose', () => {
    const counter = new TokenCounter(tok);
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        const st = statSync(p);
        if (st.isDirectory()) walk(p);
        else if (/\.(ts|md|json)$/.test(name) && st.size < 200_000) files.push(p);
      }
    };
    walk(join(import.meta.dirname, '../../src'));
    walk(join(import.meta.dirname, '../../node_modules/gpt-tokenizer/README.md').replace(/README\.md$/, ''));
    let checked = 0;
    for (const f of files.slice(0, 60)) {
      const text = readFileSync(f, 'utf8');
      expect(counter.count(text), f).toBe(tok.count(text));
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('counts special-token strings as plain text, as the tokenizer does', () => {
    const counter = new TokenCounter(tok);
    for (const s of ['<|endoftext|>', 'a<|start|>user<|message|>hi<|end|>', '<|call|>']) {
      expect(counter.count(s)).toBe(tok.count(s));
    }
  });
});
