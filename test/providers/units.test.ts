// The pure pieces under the translations, checked against independent implementations and published
// vectors: AWS event-stream framing against the AWS SDK's own codec, SigV4 against AWS's documented
// example, plus credential parsing, refresh behaviour and message sanitizing.
import { EventStreamCodec } from '@smithy/core/event-streams';
import { describe, expect, it } from 'vitest';
import { parseCredentialsFile } from '../../src/credentials/aws.js';
import { redactCredentials } from '../../src/credentials/inject.js';
import { SecretValue } from '../../src/core/secret.js';
import { RefreshingSource } from '../../src/credentials/refresh.js';
import { decodeMessage, encodeEventStreamMessage, EventStreamDecoder, EventStreamError } from '../../src/protocol/eventstream.js';
import { canonicalUri, computeSignature, signingKey } from '../../src/protocol/sigv4.js';
import { sanitizeMessage } from '../../src/providers/shared/errors.js';
import { normalizeChat } from '../../src/providers/shared/chat-in.js';

const utf8 = { toUtf8: (b: Uint8Array) => new TextDecoder().decode(b), fromUtf8: (s: string) => new TextEncoder().encode(s) };

describe('AWS event-stream framing', () => {
  it('our frames decode with the AWS SDK codec, and its frames decode with ours', () => {
    const codec = new EventStreamCodec(utf8.toUtf8, utf8.fromUtf8);
    const ours = encodeEventStreamMessage({ ':event-type': 'contentBlockDelta', ':content-type': 'application/json', ':message-type': 'event' }, '{"delta":{"text":"héllo"}}');
    const m = codec.decode(ours);
    expect(m.headers[':event-type']).toEqual({ type: 'string', value: 'contentBlockDelta' });
    expect(utf8.toUtf8(m.body)).toBe('{"delta":{"text":"héllo"}}');

    const theirs = codec.encode({
      headers: { ':message-type': { type: 'string', value: 'exception' }, ':exception-type': { type: 'string', value: 'throttlingException' }, flag: { type: 'boolean', value: true }, n: { type: 'integer', value: 7 } },
      body: utf8.fromUtf8('{"message":"slow down"}'),
    });
    const d = decodeMessage(Buffer.from(theirs));
    expect(d.headers).toEqual({ ':message-type': 'exception', ':exception-type': 'throttlingException', flag: true, n: 7 });
    expect(d.payload.toString()).toBe('{"message":"slow down"}');
  });

  it('reassembles frames split at every byte, and refuses corrupt ones', () => {
    const a = encodeEventStreamMessage({ ':event-type': 'messageStart' }, '{"role":"assistant"}');
    const b = encodeEventStreamMessage({ ':event-type': 'messageStop' }, '{"stopReason":"end_turn"}');
    const all = Buffer.concat([a, b]);
    const dec = new EventStreamDecoder();
    const got: string[] = [];
    for (let i = 0; i < all.length; i++) for (const m of dec.push(all.subarray(i, i + 1))) got.push(String(m.headers[':event-type']));
    expect(got).toEqual(['messageStart', 'messageStop']);
    expect(dec.pending()).toBe(0);
    const bad = Buffer.from(a);
    bad.writeUInt8(bad.readUInt8(bad.length - 6) ^ 0xff, bad.length - 6);
    expect(() => new EventStreamDecoder().push(bad)).toThrow(EventStreamError);
  });
});

describe('SigV4', () => {
  it('matches AWS\'s documented example signature (IAM ListUsers, 2015-08-30)', () => {
    const date = '20150830T123600Z';
    const parts = computeSignature(
      {
        method: 'GET',
        path: '/',
        query: 'Action=ListUsers&Version=2010-05-08',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', host: 'iam.amazonaws.com', 'x-amz-date': date },
        payloadHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      },
      date,
      'us-east-1',
      'iam',
      signingKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20150830', 'us-east-1', 'iam'),
    );
    expect(parts.signature).toBe('5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7');
  });

  it('encodes path segments twice, as non-S3 services expect (Bedrock model ids with ":")', () => {
    expect(canonicalUri('/model/us.amazon.nova-micro-v1%3A0/converse')).toBe('/model/us.amazon.nova-micro-v1%253A0/converse');
    expect(canonicalUri('/a/./b/../c//d/')).toBe('/a/c/d/');
  });
});

describe('credentials', () => {
  it('reads profiles from an AWS credentials file, either section style', () => {
    const text = '# comment\n[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n[profile prod]\naws_access_key_id=A2\naws_secret_access_key=S2\naws_session_token = T2\n';
    expect(parseCredentialsFile(text, 'default')).toEqual({ accessKeyId: 'A1', secretAccessKey: 'S1', sessionToken: undefined });
    expect(parseCredentialsFile(text, 'prod')).toEqual({ accessKeyId: 'A2', secretAccessKey: 'S2', sessionToken: 'T2' });
    expect(parseCredentialsFile(text, 'dev')).toMatchObject({ error: 'the AWS credentials file has no profile "dev"', hint: 'profiles in the file: default, prod' });
    expect(parseCredentialsFile('[x]\naws_access_key_id = A\n', 'x')).toMatchObject({ error: expect.stringMatching(/needs aws_access_key_id and aws_secret_access_key/) });
  });

  it('fetches once for concurrent first uses, reuses the value, and refetches after a failure', async () => {
    let calls = 0;
    let fail = false;
    const src = new RefreshingSource('p', 'gcp', () => {
      calls++;
      return fail ? Promise.reject(new Error('down')) : Promise.resolve({ value: `t${calls}`, expiresAtMs: Date.now() + 3_600_000 });
    });
    await Promise.all([src.whenReady(), src.whenReady(), src.whenReady()]);
    expect(calls).toBe(1);
    expect(src.current()).toBe('t1');
    src.close();

    fail = true;
    const broken = new RefreshingSource('q', 'azure', () => {
      calls++;
      return fail ? Promise.reject(new Error('down')) : Promise.resolve({ value: 'ok', expiresAtMs: undefined });
    });
    await expect(broken.whenReady()).rejects.toThrow('down');
    fail = false;
    await broken.whenReady();
    expect(broken.current()).toBe('ok');
  });
});

describe('error messages from providers', () => {
  it('lose credentials and account identifiers', () => {
    const m = sanitizeMessage('Bad key sk-ant-api03-abcdefghijkl for arn:aws:bedrock:us-east-1:123456789012:model/x, AKIAABCDEFGHIJKLMNOP, key AIzaSyA-abcdefghijklmnopqrstuvwxyz, Bearer ya29.a0AfH6SMB, projects/secret-proj/locations');
    expect(m).not.toMatch(/sk-ant|123456789012|AKIA|AIza|ya29|secret-proj/);
  });
});

describe('upstream error messages never carry the gateway\'s own credential', () => {
  it('cuts the exact configured key, the current token and AWS keys', () => {
    const common = { policy: 'APIKey' as const, header: 'authorization', policyName: 'p' };
    expect(redactCredentials('key plainkey123 is not allowed', { ...common, kind: 'header', value: new SecretValue('Bearer plainkey123', 's') })).toBe('key [redacted] is not allowed');
    const tokens = { current: () => 'tok-abcdef-123', whenReady: () => Promise.resolve() };
    expect(redactCredentials('bad token tok-abcdef-123', { ...common, policy: 'GCPCredentials', kind: 'bearer-token', value: new SecretValue('', 's'), tokens, gcp: undefined })).toBe('bad token [redacted]');
    const keys = { current: () => ({ accessKeyId: 'AKIDEXAMPLE1', secretAccessKey: 'secret-xyz-987', sessionToken: undefined }), whenReady: () => Promise.resolve() };
    expect(redactCredentials('AKIDEXAMPLE1 / secret-xyz-987', { ...common, policy: 'AWSCredentials', kind: 'aws-sigv4', value: new SecretValue('', 's'), region: 'r', service: 'bedrock', keys })).toBe('[redacted] / [redacted]');
  });
});

describe('OpenAI request checks before translation', () => {
  it('names the parameter a client must fix', () => {
    const bad = (body: Record<string, unknown>): unknown => {
      try {
        normalizeChat(body);
        return undefined;
      } catch (e) {
        return e;
      }
    };
    expect(bad({ messages: [] })).toMatchObject({ code: 'invalid_body', param: 'messages' });
    expect(bad({ messages: [{ role: 'user', content: 'x' }], n: 2 })).toMatchObject({ param: 'n' });
    expect(bad({ messages: [{ role: 'user', content: 'x' }], tool_choice: 'sometimes' })).toMatchObject({ param: 'tool_choice' });
    expect(bad({ messages: [{ role: 'user', content: 'x' }], temperature: 3 })).toMatchObject({ param: 'temperature' });
    expect(bad({ messages: [{ role: 'tool', content: 'x' }] })).toMatchObject({ param: 'messages[0].tool_call_id' });
    expect(bad({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] })).toMatchObject({ param: 'messages[0].content[0]' });
  });
});
