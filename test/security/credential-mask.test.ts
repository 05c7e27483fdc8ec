// The streamed credential masking, against a reference that sees the whole body at once: for any
// chunking of any body, with secrets placed anywhere (across chunk boundaries, overlapping,
// repeated, next to partial copies of themselves), the masked output equals the whole body with
// every byte of every occurrence of every secret replaced by '*'. And the per-credential set of
// secrets follows a rotating credential: the old token stops being the one masked, the new one is.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { UpstreamCredential } from '../../src/config/types.js';
import { responseSecrets } from '../../src/credentials/inject.js';
import { StreamRedactor } from '../../src/credentials/redact-stream.js';
import { RefreshingSource } from '../../src/credentials/refresh.js';
import { SecretSet } from '../../src/credentials/secret-set.js';
import { SecretValue } from '../../src/core/secret.js';

/** Whole-body reference: a mask per position, set by a plain search for each secret. */
function reference(body: string, secrets: readonly string[]): string {
  const masked = new Array<boolean>(body.length).fill(false);
  for (const s of secrets) {
    if (s.length < 6) continue;
    for (let at = body.indexOf(s); at !== -1; at = body.indexOf(s, at + 1)) masked.fill(true, at, at + s.length);
  }
  return [...body].map((c, i) => (masked[i] === true ? '*' : c)).join('');
}

/** The body through a redactor in the given chunks, as the relay feeds it (an empty push at the end). */
function streamed(body: Buffer, cuts: readonly number[], set: SecretSet): string {
  const r = new StreamRedactor(set);
  const parts: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, body.length]) {
    // A fresh copy per chunk: the redactor must not depend on chunks it was handed earlier.
    parts.push(r.push(Buffer.from(body.subarray(from, c))));
    from = c;
  }
  parts.push(r.push(Buffer.alloc(0)));
  const rest = r.end();
  if (rest !== null) parts.push(rest);
  return Buffer.concat(parts).toString('latin1');
}

// A small alphabet so secrets, their prefixes and their overlaps occur often by chance too.
const letter = fc.constantFrom('a', 'b', 'B', 'k', '-', ' ', '"', 'e', 'r');
const secretArb = fc.string({ unit: letter, minLength: 6, maxLength: 14 });

const caseArb = fc
  .record({
    secrets: fc.array(secretArb, { minLength: 1, maxLength: 4 }),
    filler: fc.array(fc.string({ unit: letter, maxLength: 12 }), { minLength: 1, maxLength: 8 }),
    picks: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
    partial: fc.nat(),
    cutSeeds: fc.array(fc.nat(), { maxLength: 12 }),
  })
  .map(({ secrets, filler, picks, partial, cutSeeds }) => {
    // Whole secrets between filler, and a proper prefix of one at the very end (held, never completed).
    let body = '';
    filler.forEach((f, i) => {
      body += f + (secrets[(picks[i % picks.length] as number) % secrets.length] as string);
    });
    const last = secrets[partial % secrets.length] as string;
    body += last.slice(0, partial % last.length);
    const cuts = [...new Set(cutSeeds.map((n) => n % (body.length + 1)))].sort((a, b) => a - b);
    return { secrets, body, cuts };
  });

describe('streamed credential masking', () => {
  it('equals masking the whole body at once, for any chunking and any secret placement', () => {
    fc.assert(
      fc.property(caseArb, ({ secrets, body, cuts }) => {
        expect(streamed(Buffer.from(body, 'latin1'), cuts, new SecretSet(secrets))).toBe(reference(body, secrets));
      }),
      { numRuns: 3000 },
    );
  });

  it('masks a secret split into one-byte chunks, and passes a body without secrets through unchanged', () => {
    const body = 'data: {"key":"sk-live-0123456789"} and sk-live-012 cut short';
    const set = new SecretSet(['Bearer sk-live-0123456789', 'sk-live-0123456789']);
    expect(streamed(Buffer.from(body), [...body].map((_, i) => i), set)).toBe(reference(body, set.strings));
    const clean = Buffer.from('data: {"choices":[{"delta":{"content":"hi"}}]}\n\n');
    expect(new StreamRedactor(set).push(clean)).toBe(clean);
  });

  it('masks a client override with the configured key, without changing the shared set', () => {
    const credential: UpstreamCredential = {
      kind: 'header',
      policy: 'APIKey',
      header: 'authorization',
      policyName: 'default/p',
      value: new SecretValue('Bearer configured-key-1', 'test'),
      override: { header: 'x-aigw-api-key', fallbackToConfigured: true },
    };
    const shared = responseSecrets(credential, {});
    expect(responseSecrets(credential, {})).toBe(shared);
    const own = responseSecrets(credential, { 'x-aigw-api-key': 'Bearer client-key-22' });
    expect(own?.strings).toEqual(['Bearer configured-key-1', 'configured-key-1', 'client-key-22']);
    expect(shared?.strings).toEqual(['Bearer configured-key-1', 'configured-key-1']);
  });
});

describe('the masked secrets of a rotating credential', () => {
  it('follow the token the source currently hands out', async () => {
    let clock = 1_000_000;
    let n = 0;
    const tokens = new RefreshingSource('default/gcp', 'gcp', () => Promise.resolve({ value: `ya29.token-${++n}-abcdef`, expiresAtMs: clock + 60_000 }), { now: () => clock });
    const credential: UpstreamCredential = {
      kind: 'bearer-token',
      policy: 'GCPCredentials',
      header: 'authorization',
      policyName: 'default/gcp',
      value: new SecretValue('{}', 'test'),
      tokens,
      gcp: undefined,
    };
    await tokens.whenReady();
    const first = responseSecrets(credential);
    expect(first?.strings).toEqual(['ya29.token-1-abcdef']);
    expect(responseSecrets(credential)).toBe(first);

    clock += 120_000; // past expiry: the source fetches a new token
    expect(responseSecrets(credential)).toBeUndefined();
    await tokens.whenReady();
    const second = responseSecrets(credential);
    expect(second?.strings).toEqual(['ya29.token-2-abcdef']);
    tokens.close();

    const body = 'echo ya29.token-2-abcdef and the old ya29.token-1-abcdef';
    fc.assert(
      fc.property(fc.array(fc.nat({ max: body.length }), { maxLength: 8 }), (seeds) => {
        const cuts = [...new Set(seeds)].sort((a, b) => a - b);
        expect(streamed(Buffer.from(body), cuts, second as SecretSet)).toBe(reference(body, ['ya29.token-2-abcdef']));
      }),
    );
  });

  it('follow new AWS keys, also from a source that hands out a new object for the same keys', () => {
    let keys = { accessKeyId: 'AKIDEXAMPLE01', secretAccessKey: 'secret-key-one', sessionToken: undefined as string | undefined };
    const credential: UpstreamCredential = {
      kind: 'aws-sigv4',
      policy: 'AWSCredentials',
      header: 'authorization',
      policyName: 'default/aws',
      value: new SecretValue('', 'test'),
      region: 'us-east-1',
      service: 'bedrock',
      keys: { current: () => ({ ...keys }), whenReady: () => Promise.resolve() },
    };
    const first = responseSecrets(credential);
    expect(first?.strings).toEqual(['secret-key-one', 'AKIDEXAMPLE01']);
    expect(responseSecrets(credential)).toBe(first);
    keys = { accessKeyId: 'AKIDEXAMPLE02', secretAccessKey: 'secret-key-two', sessionToken: 'session-token-2' };
    expect(responseSecrets(credential)?.strings).toEqual(['session-token-2', 'secret-key-two', 'AKIDEXAMPLE02']);
  });
});
