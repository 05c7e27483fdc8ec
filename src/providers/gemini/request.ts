// OpenAI chat completions and embeddings → Gemini `generateContent` / `streamGenerateContent`
// (SSE with `alt=sse`) and embeddings, on the Gemini API (`GeminiAPI`, API key) and on Vertex AI
// (`GCPVertexAI`, OAuth2; project and region from the GCPCredentials policy).
import type { BackendRefConfig } from '../../config/types.js';
import { GatewayError } from '../../core/errors.js';
import type { GeminiContent, GeminiGenerateContentRequest, GeminiGenerationConfig, GeminiPart, GeminiToolConfig } from '../../protocol/gemini.js';
import { embeddingInputs } from '../shared/embeddings.js';
import { normalizeChat, thinkingBudget, toolResultObject, type NormChat, type NormMessage } from '../shared/chat-in.js';
import { argumentsObject, type Json } from '../shared/json.js';
import { applyBodyMutations, modelFor, unsupported, vertexPath } from '../shared/paths.js';
import type { ClientRequest, UpstreamRequest } from '../types.js';

export type GeminiHost = 'gemini' | 'vertex';

const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json' });

/**
 * Gemini 3 rejects function calls in the history without the thought signature it issued; OpenAI
 * clients cannot carry it back. Google documents this value for histories from elsewhere.
 */
const HISTORY_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';

export function translateToGemini(req: ClientRequest, ref: BackendRefConfig, host: GeminiHost): UpstreamRequest {
  const model = modelFor(req, ref).replace(/^models\//, '');
  switch (req.operation) {
    case 'chat': {
      const chat = normalizeChat(req.body);
      const body = applyBodyMutations(geminiBody(chat), ref);
      const method = chat.stream ? 'streamGenerateContent' : 'generateContent';
      return {
        method: 'POST',
        path: `${modelPath(ref, host, model, method)}${chat.stream ? '?alt=sse' : ''}`,
        body: Buffer.from(JSON.stringify(body)),
        model,
        headers: JSON_HEADERS,
        forcedStreamUsage: true,
      };
    }
    case 'embeddings': {
      const inputs = embeddingInputs(req.body);
      const dims = req.body['dimensions'];
      const outputDimensionality = typeof dims === 'number' && Number.isInteger(dims) && dims > 0 ? dims : undefined;
      const body: Json =
        host === 'gemini'
          ? {
              requests: inputs.map((text) => ({
                model: `models/${model}`,
                content: { parts: [{ text }] },
                ...(outputDimensionality === undefined ? {} : { outputDimensionality }),
              })),
            }
          : { instances: inputs.map((content) => ({ content })), ...(outputDimensionality === undefined ? {} : { parameters: { outputDimensionality } }) };
      return {
        method: 'POST',
        path: modelPath(ref, host, model, host === 'gemini' ? 'batchEmbedContents' : 'predict'),
        body: Buffer.from(JSON.stringify(applyBodyMutations(body, ref))),
        model,
        headers: JSON_HEADERS,
        forcedStreamUsage: true,
      };
    }
    case 'completions':
    case 'moderations':
    case 'images':
    case 'speech':
    case 'transcriptions':
    case 'translations':
    case 'files':
    case 'batches':
    case 'rerank':
    case 'messages':
    case 'count_tokens':
    case 'responses':
    case 'responses_state':
    case 'gemini_generate':
    case 'gemini_embed':
    case 'gemini_count_tokens':
    case 'models':
    case 'other':
      throw unsupported(req, ref);
  }
}

function modelPath(ref: BackendRefConfig, host: GeminiHost, model: string, method: string): string {
  if (host === 'vertex') return vertexPath(ref, 'google', model, method, ref.backend.schema.version ?? 'v1');
  return `/${ref.backend.schema.version ?? 'v1beta'}/models/${encodeURIComponent(model)}:${method}`;
}

export function geminiBody(chat: NormChat): GeminiGenerateContentRequest {
  const body: GeminiGenerateContentRequest = { contents: geminiContents(chat.messages) };
  if (chat.system.length > 0) body.systemInstruction = { parts: [{ text: chat.system.join('\n\n') }] };
  if (chat.tools.length > 0) {
    body.tools = [
      {
        functionDeclarations: chat.tools.map((t) => ({
          name: t.name,
          ...(t.description === undefined ? {} : { description: t.description }),
          parametersJsonSchema: t.parameters,
        })),
      },
    ];
    const tc = toolConfig(chat);
    if (tc !== undefined) body.toolConfig = tc;
  }
  const g: GeminiGenerationConfig = {};
  if (chat.temperature !== undefined) g.temperature = chat.temperature;
  if (chat.topP !== undefined) g.topP = chat.topP;
  if (chat.topK !== undefined) g.topK = chat.topK;
  if (chat.maxTokens !== undefined) g.maxOutputTokens = chat.maxTokens;
  if (chat.stop.length > 0) g.stopSequences = chat.stop;
  if (chat.seed !== undefined) g.seed = chat.seed;
  if (chat.presencePenalty !== undefined) g.presencePenalty = chat.presencePenalty;
  if (chat.frequencyPenalty !== undefined) g.frequencyPenalty = chat.frequencyPenalty;
  const rf = chat.responseFormat;
  if (rf !== undefined && rf.type !== 'text') {
    g.responseMimeType = 'application/json';
    if (rf.type === 'json_schema' && rf.schema !== undefined) g.responseJsonSchema = rf.schema;
  }
  if (chat.reasoningEffort !== undefined) {
    const budget = thinkingBudget(chat.reasoningEffort);
    g.thinkingConfig = budget === 0 ? { thinkingBudget: 0 } : { thinkingBudget: budget, includeThoughts: true };
  }
  if (Object.keys(g).length > 0) body.generationConfig = g;
  return body;
}

function toolConfig(chat: NormChat): GeminiToolConfig | undefined {
  const c = chat.toolChoice;
  if (c === undefined) return undefined;
  switch (c.type) {
    case 'auto':
      return { functionCallingConfig: { mode: 'AUTO' } };
    case 'none':
      return { functionCallingConfig: { mode: 'NONE' } };
    case 'required':
      return { functionCallingConfig: { mode: 'ANY' } };
    case 'function':
      return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [c.name] } };
  }
}

function mimeFromUrl(url: string): string {
  const ext = /\.([a-z0-9]+)(?:$|[?#])/i.exec(url)?.[1]?.toLowerCase();
  switch (ext) {
    case 'png':
      return 'image/png';
    case 'gif':
      return 'image/gif';
    case 'webp':
      return 'image/webp';
    case 'pdf':
      return 'application/pdf';
    default:
      return 'image/jpeg';
  }
}

/** Gemini turns are `user` and `model`; tool results are `functionResponse` parts of a user turn. */
export function geminiContents(messages: readonly NormMessage[]): GeminiContent[] {
  const out: GeminiContent[] = [];
  const push = (role: 'user' | 'model', parts: GeminiPart[]): void => {
    if (parts.length === 0) return;
    const last = out[out.length - 1];
    if (last !== undefined && last.role === role) last.parts.push(...parts);
    else out.push({ role, parts });
  };
  messages.forEach((m, i) => {
    switch (m.role) {
      case 'user':
        push(
          'user',
          m.parts.map((p): GeminiPart => {
            switch (p.type) {
              case 'text':
                return { text: p.text };
              case 'image':
                return { inlineData: { mimeType: p.mediaType, data: p.data } };
              case 'image_url':
                return { fileData: { mimeType: mimeFromUrl(p.url), fileUri: p.url } };
            }
          }),
        );
        return;
      case 'assistant': {
        const parts: GeminiPart[] = [];
        if (m.text !== '') parts.push({ text: m.text });
        m.toolCalls.forEach((c, j) => {
          const args = argumentsObject(c.arguments);
          if (args === undefined) throw new GatewayError('invalid_body', 'Tool call arguments must be a JSON object.', { param: `messages[${i}].tool_calls[${j}].function.arguments` });
          parts.push({ functionCall: { name: c.name, args }, ...(j === 0 ? { thoughtSignature: HISTORY_THOUGHT_SIGNATURE } : {}) });
        });
        push('model', parts);
        return;
      }
      case 'tool':
        if (m.name === undefined) {
          throw new GatewayError('invalid_body', `The tool message's tool_call_id "${m.toolCallId.slice(0, 80)}" matches no earlier assistant tool call; Gemini needs the function's name.`, {
            param: `messages[${i}].tool_call_id`,
          });
        }
        push('user', [{ functionResponse: { name: m.name, response: toolResultObject(m.content) } }]);
        return;
    }
  });
  return out;
}
