// Gemini's generateContent as the Gemini API and Vertex AI simulators serve it: the request checks
// the real API makes (roles, function call/response pairing), the answer as one response or a series
// of chunks (SSE with alt=sse, else a streamed JSON array), usage metadata and the error envelope.
import type { ServerResponse } from 'node:http';
import type { GeminiGenerateContentResponse, GeminiPart } from '../../protocol/gemini.js';
import { paced, sendJson } from './http.js';
import type { Reply, ReplyEngine, ToolMode } from './reply.js';
import type { SimContext } from './server.js';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

export class GoogleError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details?: unknown[],
  ) {
    super(message);
  }
}

export function googleStatus(code: number): string {
  switch (code) {
    case 400:
      return 'INVALID_ARGUMENT';
    case 401:
      return 'UNAUTHENTICATED';
    case 403:
      return 'PERMISSION_DENIED';
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'ABORTED';
    case 429:
      return 'RESOURCE_EXHAUSTED';
    case 499:
      return 'CANCELLED';
    case 501:
      return 'UNIMPLEMENTED';
    case 503:
      return 'UNAVAILABLE';
    case 504:
      return 'DEADLINE_EXCEEDED';
    default:
      return code >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION';
  }
}

export function sendGoogleError(res: ServerResponse, e: GoogleError): void {
  sendJson(res, e.code, { error: { code: e.code, message: e.message, status: googleStatus(e.code), ...(e.details === undefined ? {} : { details: e.details }) } });
}

const bad = (m: string): GoogleError => new GoogleError(400, m);

const PART_FIELDS = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode', 'codeExecutionResult'];

export function checkGeminiBody(body: unknown): Rec {
  if (!isRec(body)) throw bad('Invalid JSON payload received. Expected an object.');
  const contents = body['contents'];
  if (!Array.isArray(contents) || contents.length === 0) throw bad('* GenerateContentRequest.contents: contents is not specified');
  let prevCalls = 0;
  contents.forEach((c, i) => {
    if (!isRec(c)) throw bad(`* GenerateContentRequest.contents[${i}]: must be an object`);
    const role = c['role'] ?? 'user';
    if (role !== 'user' && role !== 'model' && role !== 'function') throw bad('Please use a valid role: user, model.');
    const parts = c['parts'];
    if (!Array.isArray(parts) || parts.length === 0) throw bad(`* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`);
    let calls = 0;
    let responses = 0;
    parts.forEach((p, j) => {
      if (!isRec(p) || !PART_FIELDS.some((f) => p[f] !== undefined)) throw bad(`* GenerateContentRequest.contents[${i}].parts[${j}].data: required oneof field 'data' must have one initialized field`);
      if (isRec(p['functionCall'])) {
        if (typeof p['functionCall']['name'] !== 'string') throw bad(`* GenerateContentRequest.contents[${i}].parts[${j}].function_call.name: Name cannot be empty.`);
        calls++;
      }
      if (isRec(p['functionResponse'])) {
        if (typeof p['functionResponse']['name'] !== 'string') throw bad(`* GenerateContentRequest.contents[${i}].parts[${j}].function_response.name: Name cannot be empty.`);
        responses++;
      }
    });
    if (responses > 0) {
      if (prevCalls === 0) throw bad('Please ensure that function response turn comes immediately after a function call turn.');
      if (responses !== prevCalls) throw bad('Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.');
    }
    if (calls > 0 && role !== 'model') throw bad('Please ensure that function call turns are model turns.');
    prevCalls = calls;
  });
  for (const t of Array.isArray(body['tools']) ? (body['tools'] as unknown[]) : []) {
    if (!isRec(t)) continue;
    for (const d of Array.isArray(t['functionDeclarations']) ? (t['functionDeclarations'] as unknown[]) : []) {
      if (!isRec(d) || typeof d['name'] !== 'string' || d['name'] === '') throw bad('* GenerateContentRequest.tools[0].function_declarations[0].name: Name cannot be empty.');
      if (d['parameters'] !== undefined && d['parametersJsonSchema'] !== undefined) {
        throw bad(`* GenerateContentRequest.tools[0].function_declarations: ${String(d['name'])} sets both parameters and parameters_json_schema; set only one.`);
      }
    }
  }
  const g = isRec(body['generationConfig']) ? body['generationConfig'] : {};
  const t = g['temperature'];
  if (t !== undefined && (typeof t !== 'number' || t < 0 || t > 2)) throw bad('* GenerateContentRequest.generation_config.temperature: must be between 0 and 2');
  if ((g['responseSchema'] !== undefined || g['responseJsonSchema'] !== undefined) && g['responseMimeType'] !== 'application/json') {
    throw bad('* GenerateContentRequest.generation_config.response_mime_type: must be application/json when a response schema is set');
  }
  return body;
}

function partText(p: Rec): string {
  if (typeof p['text'] === 'string') return p['text'];
  if (isRec(p['functionCall'])) return JSON.stringify(p['functionCall']);
  if (isRec(p['functionResponse'])) return JSON.stringify(p['functionResponse']);
  return '';
}

export interface GeminiPlan {
  readonly reply: Reply;
  readonly includeThoughts: boolean;
}

export function geminiPlan(engine: ReplyEngine, body: Rec, outputTokens: number | undefined): GeminiPlan {
  let prompt = '';
  let prefix = '';
  const si = body['systemInstruction'];
  if (isRec(si) && Array.isArray(si['parts'])) for (const p of si['parts'] as unknown[]) if (isRec(p)) prompt += partText(p);
  if (Array.isArray(body['tools'])) prompt += JSON.stringify(body['tools']);
  const contents = (body['contents'] as unknown[]).filter(isRec);
  contents.forEach((c, i) => {
    // Implicit caching: everything before the last turn is a prefix the service may have cached.
    if (i === contents.length - 1) prefix = prompt;
    for (const p of Array.isArray(c['parts']) ? (c['parts'] as unknown[]) : []) if (isRec(p)) prompt += partText(p);
  });
  const last = contents[contents.length - 1];
  const afterToolResult = last !== undefined && Array.isArray(last['parts']) && (last['parts'] as unknown[]).some((p) => isRec(p) && p['functionResponse'] !== undefined);
  const tools: Array<{ name: string; schema: unknown }> = [];
  for (const t of Array.isArray(body['tools']) ? (body['tools'] as unknown[]) : []) {
    if (!isRec(t)) continue;
    for (const d of Array.isArray(t['functionDeclarations']) ? (t['functionDeclarations'] as unknown[]) : []) {
      if (isRec(d)) tools.push({ name: String(d['name']), schema: d['parametersJsonSchema'] ?? d['parameters'] });
    }
  }
  const fcc = isRec(body['toolConfig']) && isRec(body['toolConfig']['functionCallingConfig']) ? body['toolConfig']['functionCallingConfig'] : {};
  const allowed = Array.isArray(fcc['allowedFunctionNames']) ? (fcc['allowedFunctionNames'] as unknown[]) : [];
  const mode: ToolMode =
    fcc['mode'] === 'NONE'
      ? { type: 'none' }
      : fcc['mode'] === 'ANY'
        ? allowed.length === 1
          ? { type: 'tool', name: String(allowed[0]) }
          : { type: 'any' }
        : { type: 'auto' };
  const g = isRec(body['generationConfig']) ? body['generationConfig'] : {};
  const tc = isRec(g['thinkingConfig']) ? g['thinkingConfig'] : {};
  const budget = typeof tc['thinkingBudget'] === 'number' ? tc['thinkingBudget'] : 0;
  const reply = engine.plan({
    promptText: prompt,
    tools: allowed.length > 0 ? tools.filter((t) => allowed.includes(t.name)) : tools,
    toolMode: mode,
    parallelTools: true,
    afterToolResult,
    maxTokens: typeof g['maxOutputTokens'] === 'number' ? g['maxOutputTokens'] : undefined,
    forcedTokens: outputTokens,
    thinking: budget > 0 || budget === -1,
    json: g['responseMimeType'] === 'application/json',
    jsonSchema: g['responseJsonSchema'] ?? g['responseSchema'],
    cachePrefix: engine.count(prefix) >= 32 ? prefix : undefined,
  });
  return { reply, includeThoughts: tc['includeThoughts'] === true };
}

function usageMetadata(r: Reply, final: boolean): Rec {
  const u: Rec = { promptTokenCount: r.inputTokens };
  if (!final) return { ...u, totalTokenCount: r.inputTokens };
  const candidates = r.outputTokens - r.thinkingTokens;
  u['candidatesTokenCount'] = candidates;
  u['totalTokenCount'] = r.inputTokens + r.outputTokens;
  if (r.cacheRead > 0) u['cachedContentTokenCount'] = r.cacheRead;
  if (r.thinkingTokens > 0) u['thoughtsTokenCount'] = r.thinkingTokens;
  u['promptTokensDetails'] = [{ modality: 'TEXT', tokenCount: r.inputTokens }];
  return u;
}

const finishReason = (r: Reply): string => (r.finish === 'length' ? 'MAX_TOKENS' : 'STOP');

export function geminiResponse(plan: GeminiPlan, model: string, responseId: string): GeminiGenerateContentResponse {
  const r = plan.reply;
  const parts: GeminiPart[] = [];
  if (plan.includeThoughts && r.thinking.length > 0) parts.push({ text: r.thinking.join('').trim(), thought: true });
  if (r.text.length > 0) parts.push({ text: r.text.join('') });
  for (const c of r.toolCalls) parts.push({ functionCall: { name: c.name, args: c.args } });
  return {
    candidates: [{ content: { parts, role: 'model' }, finishReason: finishReason(r), index: 0 }],
    usageMetadata: usageMetadata(r, true),
    modelVersion: model,
    responseId,
  };
}

/** The streamed chunks: thoughts, text in a few tokens per chunk, whole function calls, then the finish. */
export function geminiChunks(plan: GeminiPlan, model: string, responseId: string): GeminiGenerateContentResponse[] {
  const r = plan.reply;
  const chunk = (parts: GeminiPart[], final = false): GeminiGenerateContentResponse => ({
    candidates: [{ content: { parts, role: 'model' }, ...(final ? { finishReason: finishReason(r) } : {}), index: 0 }],
    usageMetadata: usageMetadata(r, final),
    modelVersion: model,
    responseId,
  });
  const out: GeminiGenerateContentResponse[] = [];
  if (plan.includeThoughts && r.thinking.length > 0) out.push(chunk([{ text: r.thinking.join('').trim(), thought: true }]));
  for (let i = 0; i < r.text.length; i += 4) out.push(chunk([{ text: r.text.slice(i, i + 4).join('') }]));
  if (r.toolCalls.length > 0) out.push(chunk(r.toolCalls.map((c) => ({ functionCall: { name: c.name, args: c.args } }))));
  out.push(chunk([{ text: '' }], true));
  return out;
}

/** generateContent / streamGenerateContent for a checked body (shared by the Gemini API and Vertex AI). */
export async function respondGemini(ctx: SimContext, res: ServerResponse, body: Rec, model: string, stream: boolean, sse: boolean, c: { outputTokens: number | undefined; fault: 'truncate' | 'midstream-error' | undefined }): Promise<void> {
  const plan = geminiPlan(ctx.engine, body, c.outputTokens);
  const responseId = ctx.engine.id('');
  if (!stream) {
    sendJson(res, 200, geminiResponse(plan, model, responseId));
    return;
  }
  const chunks: Array<Rec | GeminiGenerateContentResponse> = geminiChunks(plan, model, responseId);
  if (c.fault === 'truncate') chunks.splice(Math.max(1, chunks.length - 1));
  if (c.fault === 'midstream-error') {
    chunks.splice(Math.max(1, chunks.length - 1));
    chunks.push({ error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } });
  }
  if (sse) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    await paced(res, chunks.map((ch) => `data: ${JSON.stringify(ch)}\r\n\r\n`), ctx.opts.ttftMs ?? 0, ctx.opts.itlMs ?? 0);
  } else {
    // Without alt=sse the API streams one JSON array, an element at a time.
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    await paced(res, chunks.map((ch, i) => `${i === 0 ? '[' : ',\r\n'}${JSON.stringify(ch)}${i === chunks.length - 1 && c.fault === undefined ? ']' : ''}`), ctx.opts.ttftMs ?? 0, ctx.opts.itlMs ?? 0);
  }
  res.end();
}

export function injectedGoogleError(status: number): GoogleError {
  switch (status) {
    case 429:
      return new GoogleError(429, 'Resource has been exhausted (e.g. check quota).');
    case 503:
      return new GoogleError(503, 'The model is overloaded. Please try again later.');
    case 500:
      return new GoogleError(500, 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting');
    default:
      return new GoogleError(status, `Injected error ${status} (x-sim-error)`);
  }
}
