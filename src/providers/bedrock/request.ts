// OpenAI chat completions → Bedrock Converse / ConverseStream; embeddings → InvokeModel (Titan text
// embeddings, or Cohere embed models, by model id).
import type { BackendRefConfig } from '../../config/types.js';
import { GatewayError } from '../../core/errors.js';
import type { BedrockContentBlock, BedrockConverseRequest, BedrockImageFormat, BedrockMessage, BedrockToolChoice } from '../../protocol/bedrock.js';
import { embeddingInputs } from '../shared/embeddings.js';
import { normalizeChat, thinkingBudget, type NormChat, type NormMessage } from '../shared/chat-in.js';
import { argumentsObject, type Json } from '../shared/json.js';
import { STRUCTURED_TOOL, STRUCTURED_TOOL_DESCRIPTION, structuredSchema } from '../shared/structured.js';
import { applyBodyMutations, modelFor, unsupported } from '../shared/paths.js';
import type { ClientRequest, UpstreamRequest } from '../types.js';

const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json', accept: 'application/json' });
const STREAM_HEADERS = Object.freeze({ 'content-type': 'application/json', accept: 'application/vnd.amazon.eventstream' });

export function translateToBedrock(req: ClientRequest, ref: BackendRefConfig): UpstreamRequest {
  const model = modelFor(req, ref);
  const base = `/model/${encodeURIComponent(model)}`;
  switch (req.operation) {
    case 'chat': {
      const chat = normalizeChat(req.body);
      const body = applyBodyMutations(converseBody(chat, model), ref);
      return {
        method: 'POST',
        path: `${base}/${chat.stream ? 'converse-stream' : 'converse'}`,
        body: Buffer.from(JSON.stringify(body)),
        model,
        headers: chat.stream ? STREAM_HEADERS : JSON_HEADERS,
        forcedStreamUsage: true,
      };
    }
    case 'embeddings': {
      const inputs = embeddingInputs(req.body);
      let body: Json;
      if (isCohere(model)) body = { texts: inputs, input_type: 'search_document' };
      else {
        if (inputs.length !== 1) {
          throw new GatewayError('invalid_body', `Titan embedding models on Bedrock embed one text per request; "input" has ${inputs.length}.`, { param: 'input' });
        }
        const dims = req.body['dimensions'];
        body = { inputText: inputs[0], ...(typeof dims === 'number' ? { dimensions: dims } : {}) };
      }
      return { method: 'POST', path: `${base}/invoke`, body: Buffer.from(JSON.stringify(applyBodyMutations(body, ref))), model, headers: JSON_HEADERS, forcedStreamUsage: true };
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

export function isCohere(model: string): boolean {
  return model.includes('cohere.');
}

function isClaude(model: string): boolean {
  return model.includes('anthropic.') || model.includes('claude');
}

export function converseBody(chat: NormChat, model: string): BedrockConverseRequest {
  const system = chat.system.filter((s) => s !== '').map((text) => ({ text }));
  const rf = chat.responseFormat;
  const forced = structuredSchema(chat);
  if (rf !== undefined && rf.type !== 'text' && forced === undefined) {
    system.push({
      text:
        rf.type === 'json_schema' && rf.schema !== undefined
          ? `Respond with only a JSON object that conforms to this JSON Schema (no prose, no code fences):\n${JSON.stringify(rf.schema)}`
          : 'Respond with only a valid JSON object (no prose, no code fences).',
    });
  }
  const body: BedrockConverseRequest = { messages: converseMessages(chat.messages) };
  if (system.length > 0) body.system = system;
  const inf: NonNullable<BedrockConverseRequest['inferenceConfig']> = {};
  if (chat.maxTokens !== undefined) inf.maxTokens = chat.maxTokens;
  if (chat.temperature !== undefined) inf.temperature = Math.min(1, chat.temperature);
  if (chat.topP !== undefined) inf.topP = chat.topP;
  if (chat.stop.length > 0) inf.stopSequences = chat.stop;
  if (Object.keys(inf).length > 0) body.inferenceConfig = inf;
  if (chat.tools.length > 0) {
    body.toolConfig = {
      tools: chat.tools.map((t) => ({ toolSpec: { name: t.name, ...(t.description === undefined ? {} : { description: t.description }), inputSchema: { json: t.parameters } } })),
    };
    const choice = toolChoice(chat);
    if (choice !== undefined) body.toolConfig.toolChoice = choice;
  } else if (forced !== undefined) {
    body.toolConfig = {
      tools: [{ toolSpec: { name: STRUCTURED_TOOL, description: STRUCTURED_TOOL_DESCRIPTION, inputSchema: { json: forced } } }],
      toolChoice: { tool: { name: STRUCTURED_TOOL } },
    };
  }
  const extra: Json = {};
  if (chat.topK !== undefined && isClaude(model)) extra['top_k'] = chat.topK;
  const effort = chat.reasoningEffort;
  if (effort !== undefined && effort !== 'none') {
    // Reasoning is model-specific on Bedrock and goes in additionalModelRequestFields.
    if (isClaude(model)) {
      extra['thinking'] = { type: 'enabled', budget_tokens: thinkingBudget(effort) };
      inf.maxTokens = (chat.maxTokens ?? 4096) + thinkingBudget(effort);
      body.inferenceConfig = inf;
    } else if (model.includes('nova')) extra['reasoningConfig'] = { type: 'enabled', maxReasoningEffort: effort === 'minimal' ? 'low' : effort };
    else extra['reasoning_effort'] = effort;
  }
  if (Object.keys(extra).length > 0) body.additionalModelRequestFields = extra;
  return body;
}

function toolChoice(chat: NormChat): BedrockToolChoice | undefined {
  const c = chat.toolChoice;
  // Bedrock has no "none": tools must stay declared when the history holds tool use, so "none"
  // degrades to auto.
  if (c === undefined || c.type === 'none') return undefined;
  switch (c.type) {
    case 'auto':
      return { auto: {} };
    case 'required':
      return { any: {} };
    case 'function':
      return { tool: { name: c.name } };
  }
}

function imageFormat(mediaType: string, param: string): BedrockImageFormat {
  switch (mediaType) {
    case 'image/png':
      return 'png';
    case 'image/jpeg':
    case 'image/jpg':
      return 'jpeg';
    case 'image/gif':
      return 'gif';
    case 'image/webp':
      return 'webp';
    default:
      throw new GatewayError('invalid_body', `Bedrock takes png, jpeg, gif or webp images, not ${mediaType}.`, { param });
  }
}

/** Converse turns alternate user/assistant; tool results are `toolResult` blocks of a user turn. */
export function converseMessages(messages: readonly NormMessage[]): BedrockMessage[] {
  const out: BedrockMessage[] = [];
  const push = (role: 'user' | 'assistant', blocks: BedrockContentBlock[]): void => {
    if (blocks.length === 0) return;
    const last = out[out.length - 1];
    if (last !== undefined && last.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  messages.forEach((m, i) => {
    switch (m.role) {
      case 'user': {
        const blocks: BedrockContentBlock[] = [];
        m.parts.forEach((p, j) => {
          const param = `messages[${i}].content[${j}]`;
          switch (p.type) {
            case 'text':
              if (p.text !== '') blocks.push({ text: p.text });
              return;
            case 'image':
              blocks.push({ image: { format: imageFormat(p.mediaType, param), source: { bytes: p.data } } });
              return;
            case 'image_url':
              throw new GatewayError('invalid_body', 'Bedrock takes images inline: send them as data URLs (data:image/png;base64,…).', { param });
          }
        });
        push('user', blocks);
        return;
      }
      case 'assistant': {
        const blocks: BedrockContentBlock[] = [];
        if (m.text !== '') blocks.push({ text: m.text });
        m.toolCalls.forEach((c, j) => {
          const input = argumentsObject(c.arguments);
          if (input === undefined) throw new GatewayError('invalid_body', 'Tool call arguments must be a JSON object.', { param: `messages[${i}].tool_calls[${j}].function.arguments` });
          blocks.push({ toolUse: { toolUseId: c.id, name: c.name, input } });
        });
        push('assistant', blocks);
        return;
      }
      case 'tool':
        push('user', [{ toolResult: { toolUseId: m.toolCallId, content: [{ text: m.content === '' ? ' ' : m.content }] } }]);
        return;
    }
  });
  return out;
}
