// OpenAI chat completions → Anthropic Messages, for the three places Claude is served: Anthropic's
// API (model and stream in the body, `anthropic-version` header), Vertex AI (`rawPredict` /
// `streamRawPredict`, `anthropic_version: vertex-2023-10-16` in the body, no model) and Bedrock
// (`invoke` / `invoke-with-response-stream`, `anthropic_version: bedrock-2023-05-31`, neither model
// nor stream in the body).
import type { BackendRefConfig } from '../../config/types.js';
import { GatewayError } from '../../core/errors.js';
import {
  ANTHROPIC_API_VERSION,
  BEDROCK_ANTHROPIC_VERSION,
  VERTEX_ANTHROPIC_VERSION,
  type AnthropicContentBlock,
  type AnthropicMessageParam,
  type AnthropicMessagesRequest,
  type AnthropicToolChoice,
} from '../../protocol/anthropic.js';
import { normalizeChat, thinkingBudget, type NormChat, type NormMessage } from '../shared/chat-in.js';
import { argumentsObject } from '../shared/json.js';
import { STRUCTURED_TOOL, STRUCTURED_TOOL_DESCRIPTION, structuredSchema } from '../shared/structured.js';
import { applyBodyMutations, modelFor, unsupported, vertexPath } from '../shared/paths.js';
import type { ClientRequest, UpstreamRequest } from '../types.js';

export type ClaudeHost = 'anthropic' | 'gcp' | 'aws';

/** Anthropic requires max_tokens; OpenAI clients often leave it out. */
export const DEFAULT_MAX_TOKENS = 4096;

export function translateToAnthropic(req: ClientRequest, ref: BackendRefConfig, host: ClaudeHost): UpstreamRequest {
  if (req.operation !== 'chat') throw unsupported(req, ref);
  const chat = normalizeChat(req.body);
  const model = modelFor(req, ref);
  const body = anthropicBody(chat, host);
  return claudeRequest(body, model, chat.stream, ref, host);
}

/** The HTTP request for an Anthropic Messages body, per host. */
export function claudeRequest(body: AnthropicMessagesRequest, model: string, stream: boolean, ref: BackendRefConfig, host: ClaudeHost): UpstreamRequest {
  switch (host) {
    case 'anthropic':
      return {
        method: 'POST',
        path: `${ref.backend.schema.prefix}/messages`,
        body: Buffer.from(JSON.stringify(applyBodyMutations({ ...body, model }, ref))),
        model,
        headers: { 'content-type': 'application/json', 'anthropic-version': ANTHROPIC_API_VERSION },
        forcedStreamUsage: true,
      };
    case 'gcp': {
      const { model: _m, ...rest } = body;
      return {
        method: 'POST',
        path: vertexPath(ref, 'anthropic', model, stream ? 'streamRawPredict' : 'rawPredict'),
        body: Buffer.from(JSON.stringify(applyBodyMutations({ ...rest, anthropic_version: ref.backend.schema.version ?? VERTEX_ANTHROPIC_VERSION }, ref))),
        model,
        headers: { 'content-type': 'application/json' },
        forcedStreamUsage: true,
      };
    }
    case 'aws': {
      const { model: _m, stream: _s, ...rest } = body;
      return {
        method: 'POST',
        path: `/model/${encodeURIComponent(model)}/${stream ? 'invoke-with-response-stream' : 'invoke'}`,
        body: Buffer.from(JSON.stringify(applyBodyMutations({ ...rest, anthropic_version: ref.backend.schema.version ?? BEDROCK_ANTHROPIC_VERSION }, ref))),
        model,
        headers: stream
          ? { 'content-type': 'application/json', accept: 'application/vnd.amazon.eventstream', 'x-amzn-bedrock-accept': 'application/json' }
          : { 'content-type': 'application/json', accept: 'application/json' },
        forcedStreamUsage: true,
      };
    }
  }
}

export function anthropicBody(chat: NormChat, host: ClaudeHost): AnthropicMessagesRequest {
  const system = [...chat.system];
  const rf = chat.responseFormat;
  const forced = structuredSchema(chat);
  // Anthropic has no JSON mode: a schema is forced as a tool's input (shared/structured.ts), else the
  // system prompt asks for JSON (with the schema, when given, verbatim).
  if (rf !== undefined && rf.type !== 'text' && forced === undefined) {
    system.push(
      rf.type === 'json_schema' && rf.schema !== undefined
        ? `Respond with only a JSON object that conforms to this JSON Schema (no prose, no code fences):\n${JSON.stringify(rf.schema)}`
        : 'Respond with only a valid JSON object (no prose, no code fences).',
    );
  }
  const budget = chat.reasoningEffort === undefined || chat.reasoningEffort === 'none' ? 0 : thinkingBudget(chat.reasoningEffort);
  const maxTokens = chat.maxTokens ?? DEFAULT_MAX_TOKENS;
  const body: AnthropicMessagesRequest = {
    messages: anthropicMessages(chat.messages),
    // Thinking tokens count against max_tokens: the client's limit is for the answer.
    max_tokens: budget > 0 ? maxTokens + budget : maxTokens,
  };
  if (system.length > 0) body.system = system.join('\n\n');
  if (chat.stop.length > 0) body.stop_sequences = chat.stop;
  // OpenAI's temperature goes to 2, Anthropic's to 1.
  if (chat.temperature !== undefined) body.temperature = Math.min(1, chat.temperature);
  if (chat.topP !== undefined) body.top_p = chat.topP;
  if (chat.topK !== undefined) body.top_k = chat.topK;
  if (budget > 0) body.thinking = { type: 'enabled', budget_tokens: budget };
  if (chat.tools.length > 0) {
    body.tools = chat.tools.map((t) => ({ name: t.name, ...(t.description === undefined ? {} : { description: t.description }), input_schema: t.parameters }));
    const choice = toolChoice(chat);
    if (choice !== undefined) body.tool_choice = choice;
  }
  if (forced !== undefined) {
    body.tools = [{ name: STRUCTURED_TOOL, description: STRUCTURED_TOOL_DESCRIPTION, input_schema: forced }];
    body.tool_choice = { type: 'tool', name: STRUCTURED_TOOL };
  }
  if (chat.user !== undefined) body.metadata = { user_id: chat.user };
  if (chat.stream && host !== 'aws') body.stream = true;
  return body;
}

function toolChoice(chat: NormChat): AnthropicToolChoice | undefined {
  const noParallel = chat.parallelToolCalls === false ? { disable_parallel_tool_use: true } : {};
  const c = chat.toolChoice;
  if (c === undefined) return chat.parallelToolCalls === false ? { type: 'auto', disable_parallel_tool_use: true } : undefined;
  switch (c.type) {
    case 'auto':
      return { type: 'auto', ...noParallel };
    case 'none':
      return { type: 'none' };
    case 'required':
      return { type: 'any', ...noParallel };
    case 'function':
      return { type: 'tool', name: c.name, ...noParallel };
  }
}

/** Anthropic wants user/assistant turns with tool results as user blocks: merge consecutive turns. */
export function anthropicMessages(messages: readonly NormMessage[]): AnthropicMessageParam[] {
  const out: Array<{ role: 'user' | 'assistant'; content: AnthropicContentBlock[] }> = [];
  const push = (role: 'user' | 'assistant', blocks: AnthropicContentBlock[]): void => {
    if (blocks.length === 0) return;
    const last = out[out.length - 1];
    if (last !== undefined && last.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  messages.forEach((m, i) => {
    switch (m.role) {
      case 'user':
        push(
          'user',
          m.parts.map((p): AnthropicContentBlock => {
            switch (p.type) {
              case 'text':
                return { type: 'text', text: p.text };
              case 'image':
                return { type: 'image', source: { type: 'base64', media_type: p.mediaType, data: p.data } };
              case 'image_url':
                return { type: 'image', source: { type: 'url', url: p.url } };
            }
          }).filter((b) => b.type !== 'text' || b.text !== ''),
        );
        return;
      case 'assistant': {
        const blocks: AnthropicContentBlock[] = [];
        if (m.text !== '') blocks.push({ type: 'text', text: m.text });
        m.toolCalls.forEach((c, j) => {
          const input = argumentsObject(c.arguments);
          if (input === undefined) {
            throw new GatewayError('invalid_body', 'Tool call arguments must be a JSON object.', { param: `messages[${i}].tool_calls[${j}].function.arguments` });
          }
          blocks.push({ type: 'tool_use', id: c.id, name: c.name, input });
        });
        push('assistant', blocks);
        return;
      }
      case 'tool':
        push('user', [{ type: 'tool_result', tool_use_id: m.toolCallId, content: m.content }]);
        return;
    }
  });
  return out;
}
