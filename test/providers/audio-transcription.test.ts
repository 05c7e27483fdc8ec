// Audio transcription and translation through the gateway, with the official openai SDK as the
// client: the multipart upload is streamed to the backend (the gateway reads ahead only to the
// `model` field), every response format comes back as the backend wrote it, stream=true relays the
// transcript events, and token usage the backend reports is what the gateway accounts.
import http from 'node:http';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { clientTrafficPolicyYaml } from '../helpers/buffer-limited.js';
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { backendYaml, credentialYaml, routeYaml } from './rig.js';

/** A PCM WAV (16 kHz, mono, 16-bit) of `seconds` of silence. */
function wav(seconds: number): Buffer {
  const data = Math.round(seconds * 16_000) * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVEfmt ', 8, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(16_000, 24);
  b.writeUInt32LE(32_000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(data, 40);
  return b;
}

async function metric(adminUrl: string, series: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A multipart upload by hand, so the test decides the order of the parts and when bytes are sent. */
function rawUpload(url: string, path: string, headers: Record<string, string>): { req: http.ClientRequest; done: Promise<Raw> } {
  // A connection of its own: a refused upload leaves its connection unusable for the next request.
  const req = http.request(`${url}${path}`, { method: 'POST', headers, agent: false });
  const done = new Promise<Raw>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
  });
  return { req, done };
}

const BOUNDARY = 'tollgate-test-boundary';
const field = (name: string, value: string): Buffer => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
const fileHead = (): Buffer => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`);
const closing = (): Buffer => Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
const MULTIPART = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };

describe('openai SDK → gateway → OpenAI-compatible backends: audio transcription and translation', () => {
  let tokens: SimServerHandle;
  let whisper: SimServerHandle;
  let gw: TestGateway;
  let client: OpenAI;
  beforeAll(async () => {
    tokens = await startSimServer({ apiKey: 'sk-openai-sim', profile: 'fast', model: 'gpt-4o-transcribe' });
    whisper = await startSimServer({ apiKey: 'sk-openai-sim', profile: 'fast', model: 'whisper-1' });
    process.env['TOLLGATE_LISTENER_UPLOAD_LOOKAHEAD_BYTES'] = String(128 * 1024);
    try {
      gw = await startGateway({
        'tokens.yaml': backendYaml('tokens', 'OpenAI', tokens.port),
        'tokens-cred.yaml': credentialYaml('openai', 'tokens', tokens.url),
        'whisper.yaml': backendYaml('whisper', 'OpenAI', whisper.port),
        'whisper-cred.yaml': credentialYaml('openai', 'whisper', whisper.url),
        'r1.yaml': routeYaml('r-tokens', 'gpt-4o-transcribe', 'tokens'),
        // Clients say "whisper"; the backend serves "whisper-1": the gateway rewrites the form's model field.
        'r2.yaml': routeYaml('r-whisper', 'whisper', 'whisper', '\n          modelNameOverride: whisper-1'),
        'ctp.yaml': clientTrafficPolicyYaml('256Ki'),
      });
    } finally {
      delete process.env['TOLLGATE_LISTENER_UPLOAD_LOOKAHEAD_BYTES'];
    }
    client = new OpenAI({ apiKey: 'client-key-never-forwarded', baseURL: `${gw.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    await gw?.close();
    await tokens?.close();
    await whisper?.close();
  });

  it('json: the SDK sends the file before the model; the backend reports tokens and the gateway accounts them', async () => {
    const r = await client.audio.transcriptions.create({ file: await toFile(wav(2), 'speech.wav', { type: 'audio/wav' }), model: 'gpt-4o-transcribe', prompt: 'A meeting.' });
    expect(r.text.split(' ').length).toBeGreaterThanOrEqual(3);
    expect(r.usage?.type).toBe('tokens');
    if (r.usage?.type !== 'tokens') throw new Error('tokens usage expected');
    expect(r.usage.input_token_details?.audio_tokens).toBe(20);
    expect(r.usage.input_tokens).toBe(20 + (r.usage.input_token_details?.text_tokens ?? 0));
    expect(r.usage.output_tokens).toBeGreaterThan(0);
    await eventually(async () => (await metric(gw.adminUrl, 'tollgate_usage_records_total{usage_source="backend"}')) >= 1, 'a usage record with the backend numbers');
  });

  it('stream=true: transcript delta events, then the done event with usage, relayed as they come', async () => {
    const stream = await client.audio.transcriptions.create({ file: await toFile(wav(3), 'speech.wav'), model: 'gpt-4o-transcribe', stream: true });
    let deltas = '';
    let done: { text: string; usage?: { output_tokens: number } } | undefined;
    for await (const e of stream) {
      if (e.type === 'transcript.text.delta') deltas += e.delta;
      if (e.type === 'transcript.text.done') done = e;
    }
    expect(done?.text).toBe(deltas);
    expect(done?.usage?.output_tokens).toBeGreaterThan(0);
  });

  it('text, srt, vtt and verbose_json from a duration-billed model, with the route rewriting the model field', async () => {
    const file = async (): Promise<File> => toFile(wav(4), 'speech.wav');
    const text = await client.audio.transcriptions.create({ file: await file(), model: 'whisper', response_format: 'text' });
    expect(typeof text).toBe('string');
    expect(text.trim().length).toBeGreaterThan(0);
    const srt = await client.audio.transcriptions.create({ file: await file(), model: 'whisper', response_format: 'srt' });
    expect(srt).toMatch(/^1\n00:00:00,000 --> 00:00:\d\d,\d{3}\n/);
    const vtt = await client.audio.transcriptions.create({ file: await file(), model: 'whisper', response_format: 'vtt' });
    expect(vtt.startsWith('WEBVTT\n\n00:00:00.000 --> ')).toBe(true);
    const verbose = await client.audio.transcriptions.create({ file: await file(), model: 'whisper', response_format: 'verbose_json', timestamp_granularities: ['word', 'segment'] });
    expect(verbose.duration).toBe(4);
    expect(verbose.segments?.at(-1)?.end).toBe(4);
    expect(verbose.words?.length).toBeGreaterThan(0);
    expect(verbose.usage).toEqual({ type: 'duration', seconds: 4 });
    // The backend saw the model the route names, not the client's.
    const seen = (await (await fetch(`${whisper.url}/_sim/requests/${verbose._request_id ?? ''}`)).json()) as { model: string; credential: string };
    expect(seen.model).toBe('whisper-1');
    expect(seen.credential).toBe('valid');
  });

  it('translations', async () => {
    const r = await client.audio.translations.create({ file: await toFile(wav(2), 'speech.wav'), model: 'whisper' });
    expect(r.text.length).toBeGreaterThan(0);
  });

  it('streams the upload: the backend has the request while the client is still sending the file', async () => {
    const id = `upload-${Date.now()}`;
    const { req, done } = rawUpload(gw.url, '/v1/audio/transcriptions', { ...MULTIPART, 'x-request-id': id });
    const audio = wav(3);
    req.write(Buffer.concat([field('model', 'gpt-4o-transcribe'), fileHead(), audio.subarray(0, 1000)]));
    await eventually(async () => (await fetch(`${tokens.url}/_sim/requests/${id}`)).status === 200, 'the backend to receive the request before the upload ends');
    req.end(Buffer.concat([audio.subarray(1000), closing()]));
    const r = await done;
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as { usage: { input_token_details: { audio_tokens: number } } }).usage.input_token_details.audio_tokens).toBe(30);
  });

  it('an upload past the body limit is cut with a 413 that names the limit, also when it is already streaming', async () => {
    // Declared too large: refused before a byte is read.
    const declared = rawUpload(gw.url, '/v1/audio/transcriptions', { ...MULTIPART, 'content-length': String(300 * 1024) });
    declared.req.end();
    const d = await declared.done;
    expect(d.status).toBe(413);
    // Chunked: the model comes first, the upload streams, and the limit cuts it on the way.
    const chunked = rawUpload(gw.url, '/v1/audio/transcriptions', MULTIPART);
    chunked.req.write(Buffer.concat([field('model', 'gpt-4o-transcribe'), fileHead()]));
    for (let i = 0; i < 20; i++) chunked.req.write(Buffer.alloc(16 * 1024));
    chunked.req.end(closing());
    const c = await chunked.done;
    expect(c.status).toBe(413);
    expect((JSON.parse(c.body) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'body_too_large', message: expect.stringContaining('262144 bytes') });
  });

  it('a model field past the read-ahead is refused with what to do', async () => {
    const { req, done } = rawUpload(gw.url, '/v1/audio/transcriptions', MULTIPART);
    req.end(Buffer.concat([fileHead(), wav(8), Buffer.from('\r\n'), field('model', 'gpt-4o-transcribe'), Buffer.from(`--${BOUNDARY}--\r\n`)]));
    const r = await done;
    expect(r.status).toBe(400);
    const err = (JSON.parse(r.body) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('missing_model');
    expect(err.message).toContain('Put "model" before "file"');
  });

  it('a body that is not a form gets a 415 naming multipart/form-data', async () => {
    const r = await fetch(`${gw.url}/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"gpt-4o-transcribe"}' });
    expect(r.status).toBe(415);
    expect(((await r.json()) as { error: { message: string } }).error.message).toContain('multipart/form-data');
  });
});

describe('simulator: OpenAI audio transcription wire format', () => {
  let sim: SimServerHandle;
  let whisper: SimServerHandle;
  let client: OpenAI;
  let wclient: OpenAI;
  beforeAll(async () => {
    sim = await startSimServer({ apiKey: 'k', profile: 'fast', model: 'gpt-4o-mini-transcribe', seed: 7 });
    whisper = await startSimServer({ apiKey: 'k', profile: 'fast', model: 'whisper-1', seed: 7 });
    client = new OpenAI({ apiKey: 'k', baseURL: `${sim.url}/v1`, maxRetries: 0 });
    wclient = new OpenAI({ apiKey: 'k', baseURL: `${whisper.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    await sim?.close();
    await whisper?.close();
  });

  it('is deterministic for the file and the seed, and sized by the audio duration', async () => {
    const a = await client.audio.transcriptions.create({ file: await toFile(wav(2), 'a.wav'), model: 'gpt-4o-mini-transcribe' });
    const b = await client.audio.transcriptions.create({ file: await toFile(wav(2), 'b.wav'), model: 'gpt-4o-mini-transcribe' });
    const long = await client.audio.transcriptions.create({ file: await toFile(wav(20), 'c.wav'), model: 'gpt-4o-mini-transcribe' });
    expect(a.text).toBe(b.text);
    expect(long.text.length).toBeGreaterThan(a.text.length * 4);
  });

  it('token-billed models answer json or text only, as OpenAI does', async () => {
    await expect(client.audio.transcriptions.create({ file: await toFile(wav(1), 'a.wav'), model: 'gpt-4o-mini-transcribe', response_format: 'srt' })).rejects.toMatchObject({
      status: 400,
      param: 'response_format',
    });
    await expect(client.audio.translations.create({ file: await toFile(wav(1), 'a.wav'), model: 'gpt-4o-mini-transcribe' })).rejects.toMatchObject({ status: 400 });
  });

  it('whisper: duration usage, verbose_json segments cover the audio, stream is ignored', async () => {
    const v = await wclient.audio.transcriptions.create({ file: await toFile(wav(6), 'a.wav'), model: 'whisper-1', response_format: 'verbose_json' });
    expect(v).toMatchObject({ task: 'transcribe', language: 'english', duration: 6, usage: { type: 'duration', seconds: 6 } });
    expect(v.segments?.[0]).toMatchObject({ id: 0, start: 0, temperature: 0 });
    expect(v.segments?.[0]?.tokens.length).toBeGreaterThan(0);
    expect(v.words).toBeUndefined();
    const r = await fetch(`${whisper.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: 'Bearer k' },
      body: (() => {
        const f = new FormData();
        f.append('model', 'whisper-1');
        f.append('stream', 'true');
        f.append('file', new Blob([wav(1)]), 'a.wav');
        return f;
      })(),
    });
    expect(r.headers.get('content-type')).toBe('application/json');
    const t = await wclient.audio.translations.create({ file: await toFile(wav(2), 'a.wav'), model: 'whisper-1', response_format: 'verbose_json' });
    expect(t).toMatchObject({ task: 'translate', language: 'english', duration: 2 });
  });

  it('a form without a file is a 400 naming the field', async () => {
    const f = new FormData();
    f.append('model', 'whisper-1');
    const r = await fetch(`${whisper.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: 'Bearer k' }, body: f });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { param: string } }).error.param).toBe('file');
  });
});
