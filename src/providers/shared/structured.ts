// Structured output (`response_format: json_schema`) for backends without a JSON-schema mode of their
// own (Claude on every host, Bedrock Converse): the schema becomes the input schema of one tool the
// model is made to call, and the call's input comes back as the answer's text. Tool inputs are
// held to their schema by these models (and by the simulators), where an instruction in the system
// prompt is only a request. Used only when the client declared no tools of its own (its tools keep
// their meaning) and, on Claude, without extended thinking (which cannot be combined with a forced
// tool); otherwise the schema goes in the system prompt as an instruction.
import type { NormChat } from './chat-in.js';
import type { ChatCompletionParts } from './chat-out.js';
import { isRecord, type Json } from './json.js';

/** The tool the answer is given through; the model sees this name. */
export const STRUCTURED_TOOL = 'json_response';
export const STRUCTURED_TOOL_DESCRIPTION = 'Give the answer: its input is the response, in the JSON Schema the user asked for.';

/** The schema to force as a tool, when the request asks for one and nothing rules the tool out. */
export function structuredSchema(chat: NormChat): Json | undefined {
  const rf = chat.responseFormat;
  const thinking = chat.reasoningEffort !== undefined && chat.reasoningEffort !== 'none';
  if (rf?.type !== 'json_schema' || rf.schema === undefined || chat.tools.length > 0 || thinking) return undefined;
  return rf.schema;
}

/** Whether an answer to this (OpenAI chat) request carries its structured output as the forced tool's call. */
export function answersThroughTool(body: Readonly<Record<string, unknown>>): boolean {
  const rf = body['response_format'];
  const tools = body['tools'];
  if (!isRecord(rf) || rf['type'] !== 'json_schema' || !isRecord(rf['json_schema']) || !isRecord(rf['json_schema']['schema'])) return false;
  if (Array.isArray(tools) && tools.length > 0) return false;
  const effort = body['reasoning_effort'];
  return effort === undefined || effort === null || effort === 'none';
}

/** A completion whose forced-tool call becomes its text, finished as a plain answer. */
export function foldStructured<P extends Pick<ChatCompletionParts, 'text' | 'toolCalls' | 'finish'>>(parts: P): P {
  const call = parts.toolCalls.find((t) => t.name === STRUCTURED_TOOL);
  if (call === undefined) return parts;
  const rest = parts.toolCalls.filter((t) => t !== call);
  // The forced call is the answer; text beside it (real models write none) is not part of it.
  return { ...parts, text: call.arguments, toolCalls: rest, finish: parts.finish === 'tool_calls' && rest.length === 0 ? 'stop' : parts.finish };
}
