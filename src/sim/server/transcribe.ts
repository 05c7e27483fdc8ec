// Audio transcription and translation in OpenAI's wire format: a multipart upload in, a transcript
// out as json, text, srt, vtt or verbose_json, or (stream=true) a stream of transcript events. The
// transcript is pseudo-text whose length follows the audio's duration (read from a WAV header, else
// estimated at 128 kbit/s), deterministic for the file and the seed.
//
// Models behave by family, as OpenAI's do: a model named `whisper…` bills by duration
// (`usage: {type: "duration", seconds}`), takes every response format and ignores `stream`; any
// other (gpt-4o-transcribe and the like) bills tokens (audio tokens at 10 per second, text tokens of
// the prompt, output tokens of the transcript), answers json or text only, and streams.
import type { ServerResponse } from 'node:http';
import { hashString, Rng } from '../rng.js';
import { generateText } from '../text.js';
import { badRequest, SimHttpError } from './errors.js';
import type { Form } from './form.js';
import type { SimInstance } from './instance.js';

type Obj = Record<string, unknown>;
type Task = 'transcribe' | 'translate';

const FORMATS = ['json', 'text', 'srt', 'verbose_json', 'vtt'] as const;
type Format = (typeof FORMATS)[number];

const AUDIO_TOKENS_PER_SECOND = 10;
const WORDS_PER_SECOND = 2.5;

export function transcribe(inst: SimInstance, task: Task, form: Form, res: ServerResponse, headers: Record<string, string>): void {
  const one = (name: string): string | undefined => form.fields.get(name)?.[0];
  const model = one('model');
  if (model === undefined || model === '') throw badRequest('model: Field required.', 'model');
  if (model !== inst.model) throw new SimHttpError(404, 'NotFoundError', `The model \`${model}\` does not exist.`, 'model');
  const whisper = model.startsWith('whisper');
  if (task === 'translate' && !whisper) throw badRequest(`Translations are served by whisper models only; \`${model}\` cannot translate.`, 'model');
  const format = (one('response_format') ?? 'json') as Format;
  if (!FORMATS.includes(format)) throw badRequest(`response_format: must be one of ${FORMATS.join(', ')}.`, 'response_format');
  if (!whisper && format !== 'json' && format !== 'text') {
    throw badRequest(`response_format '${format}' is not compatible with model '${model}'. Use 'json' or 'text'.`, 'response_format');
  }
  const duration = audioSeconds(form.file);
  const rng = new Rng(inst.seed ^ hashString(`${task}:${form.file.length}:${form.file.subarray(0, 4096).toString('base64')}`), 7);
  const words = Math.max(3, Math.round(duration * WORDS_PER_SECOND));
  const text = generateText(inst.vocab, rng, words);
  const outputTokens = inst.tokenizer.count(text);
  const promptTokens = inst.tokenizer.count(one('prompt') ?? '');
  const audioTokens = Math.ceil(duration * AUDIO_TOKENS_PER_SECOND);
  const usage: Obj = whisper
    ? { type: 'duration', seconds: Math.ceil(duration) }
    : {
        type: 'tokens',
        input_tokens: audioTokens + promptTokens,
        input_token_details: { text_tokens: promptTokens, audio_tokens: audioTokens },
        output_tokens: outputTokens,
        total_tokens: audioTokens + promptTokens + outputTokens,
      };

  if (one('stream') === 'true' && !whisper) return streamTranscript(res, text, usage, headers);
  const segments = timed(inst, text, duration);
  switch (format) {
    case 'json':
      return send(res, 'application/json', JSON.stringify(task === 'translate' ? { text } : { text, usage }), headers);
    case 'text':
      return send(res, 'text/plain; charset=utf-8', `${text}\n`, headers);
    case 'srt':
      return send(res, 'text/plain; charset=utf-8', segments.map((s, i) => `${i + 1}\n${clock(s.start, ',')} --> ${clock(s.end, ',')}\n${s.text.trim()}\n\n`).join(''), headers);
    case 'vtt':
      return send(res, 'text/plain; charset=utf-8', `WEBVTT\n\n${segments.map((s) => `${clock(s.start, '.')} --> ${clock(s.end, '.')}\n${s.text.trim()}\n\n`).join('')}`, headers);
    case 'verbose_json': {
      const granularities = form.fields.get('timestamp_granularities[]') ?? form.fields.get('timestamp_granularities') ?? ['segment'];
      const out: Obj = { task, language: task === 'translate' ? 'english' : languageName(one('language')), duration: round2(duration), text };
      if (granularities.includes('segment')) out['segments'] = segments;
      if (granularities.includes('word')) out['words'] = wordTimes(text, duration);
      if (task === 'transcribe') out['usage'] = usage;
      return send(res, 'application/json', JSON.stringify(out), headers);
    }
  }
}

function send(res: ServerResponse, type: string, body: string, headers: Record<string, string>): void {
  res.writeHead(200, { ...headers, 'content-type': type, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

/** Delta events a few words at a time, then the whole text with the usage. */
function streamTranscript(res: ServerResponse, text: string, usage: Obj, headers: Record<string, string>): void {
  res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  const pieces = text.match(/\S+\s*/g) ?? [];
  for (let i = 0; i < pieces.length; i += 3) {
    res.write(`data: ${JSON.stringify({ type: 'transcript.text.delta', delta: pieces.slice(i, i + 3).join('') })}\n\n`);
  }
  res.end(`data: ${JSON.stringify({ type: 'transcript.text.done', text, usage })}\n\n`);
}

interface Segment {
  id: number;
  seek: number;
  start: number;
  end: number;
  text: string;
  tokens: number[];
  temperature: number;
  avg_logprob: number;
  compression_ratio: number;
  no_speech_prob: number;
}

/** Sentences spread over the audio in proportion to their length. */
function timed(inst: SimInstance, text: string, duration: number): Segment[] {
  const sentences = text.match(/[^.]+\.?/g)?.filter((s) => s.trim() !== '') ?? [text];
  const total = sentences.reduce((n, s) => n + s.length, 0) || 1;
  let at = 0;
  return sentences.map((s, id) => {
    const start = at;
    at += (duration * s.length) / total;
    return {
      id,
      seek: Math.floor(start * 100),
      start: round2(start),
      end: round2(at),
      text: s.startsWith(' ') ? s : ` ${s}`,
      tokens: inst.tokenizer.encode(s),
      temperature: 0,
      avg_logprob: -0.25,
      compression_ratio: 1.2,
      no_speech_prob: 0.01,
    };
  });
}

function wordTimes(text: string, duration: number): Array<{ word: string; start: number; end: number }> {
  const words = text.split(/\s+/).filter((w) => w !== '');
  const step = duration / Math.max(1, words.length);
  return words.map((w, i) => ({ word: w.replace(/[.,]$/, ''), start: round2(i * step), end: round2((i + 1) * step) }));
}

/** Seconds of audio: exact for PCM WAV (its header says), else estimated from the size at 128 kbit/s. */
export function audioSeconds(file: Buffer): number {
  if (file.length >= 44 && file.toString('latin1', 0, 4) === 'RIFF' && file.toString('latin1', 8, 12) === 'WAVE') {
    let byteRate = 0;
    let i = 12;
    while (i + 8 <= file.length) {
      const id = file.toString('latin1', i, i + 4);
      const size = file.readUInt32LE(i + 4);
      if (id === 'fmt ' && i + 16 <= file.length) byteRate = file.readUInt32LE(i + 16);
      if (id === 'data' && byteRate > 0) return Math.min(size, file.length - i - 8) / byteRate;
      i += 8 + size + (size % 2);
    }
  }
  return file.length / 16_000;
}

function clock(seconds: number, sep: ',' | '.'): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(ms % 1000, 3)}`;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

const LANGUAGES: Readonly<Record<string, string>> = { en: 'english', de: 'german', fr: 'french', es: 'spanish', it: 'italian', ja: 'japanese', zh: 'chinese' };

function languageName(code: string | undefined): string {
  return code === undefined ? 'english' : (LANGUAGES[code] ?? code);
}
