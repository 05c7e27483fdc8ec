// Bedrock's Converse API as the simulator serves it: the validation the real service applies
// (turn order, tool use/result pairing, toolConfig presence) and the answer as one JSON body or the
// ConverseStream events, framed in AWS event-stream messages.
import type { BedrockConverseResponse } from '../../protocol/bedrock.js';
import { encodeEventStreamMessage } from '../../protocol/eventstream.js';
import type { Reply, ReplyEngine, ToolMode } from './reply.js';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

export class AwsError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const invalid = (m: string): AwsError => new AwsError(400, 'ValidationException', m);

const BLOCKS = ['text', 'image', 'document', 'video', 'toolUse', 'toolResult', 'reasoningContent', 'cachePoint', 'guardContent', 'citationsContent'];

export function checkConverse(body: unknown): Rec {
  if (!isRec(body)) throw invalid('Malformed input request, please reformat your input and try again.');
  const msgs = body['messages'];
  if (!Array.isArray(msgs) || msgs.length === 0) throw invalid('A conversation must start with a user message. Try again with a conversation that starts with a user message.');
  let usesTools = false;
  let prevToolUses: string[] = [];
  msgs.forEach((m, i) => {
    if (!isRec(m) || (m['role'] !== 'user' && m['role'] !== 'assistant')) throw invalid(`1 validation error detected: Value at 'messages.${i + 1}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]`);
    if (i === 0 && m['role'] !== 'user') throw invalid('A conversation must start with a user message. Try again with a conversation that starts with a user message.');
    const prev = i > 0 ? (msgs[i - 1] as Rec) : undefined;
    if (prev !== undefined && prev['role'] === m['role']) {
      throw invalid('A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.');
    }
    const content = m['content'];
    if (!Array.isArray(content) || content.length === 0) throw invalid(`The content field in the Message object at messages.${i} is empty. Add a ContentBlock object to the content field and try again.`);
    const results: string[] = [];
    const uses: string[] = [];
    content.forEach((b, j) => {
      const keys = isRec(b) ? Object.keys(b).filter((k) => BLOCKS.includes(k)) : [];
      if (!isRec(b) || keys.length !== 1) throw invalid(`The ContentBlock at messages.${i}.content.${j} must set exactly one member.`);
      if (typeof b['text'] === 'string' && b['text'].trim() === '') {
        throw invalid(`The text field in the ContentBlock object at messages.${i}.content.${j} is blank. Add text to the text field, and try again.`);
      }
      if (isRec(b['toolUse'])) {
        usesTools = true;
        uses.push(String(b['toolUse']['toolUseId']));
      }
      if (isRec(b['toolResult'])) {
        usesTools = true;
        results.push(String(b['toolResult']['toolUseId']));
      }
    });
    if (m['role'] === 'user') {
      if (results.length > prevToolUses.length) throw invalid(`The number of toolResult blocks at messages.${i}.content exceeds the number of toolUse blocks of previous turn.`);
      const missing = prevToolUses.filter((id) => !results.includes(id));
      if (missing.length > 0) throw invalid(`Expected toolResult blocks at messages.${i}.content for the following Ids: ${missing.join(', ')}`);
    } else if (results.length > 0) throw invalid(`messages.${i}: toolResult blocks are only allowed in user messages.`);
    prevToolUses = uses;
  });
  const tc = body['toolConfig'];
  if (usesTools && !isRec(tc)) throw invalid('The toolConfig field must be defined when using toolUse and toolResult content blocks.');
  if (isRec(tc)) {
    const tools = Array.isArray(tc['tools']) ? (tc['tools'] as unknown[]) : [];
    const names = tools.map((t) => (isRec(t) && isRec(t['toolSpec']) ? String(t['toolSpec']['name']) : '')).filter((n) => n !== '');
    const choice = tc['toolChoice'];
    if (isRec(choice) && isRec(choice['tool']) && !names.includes(String(choice['tool']['name']))) throw invalid('The tool named in toolChoice is not in the toolConfig tools.');
  }
  const inf = isRec(body['inferenceConfig']) ? body['inferenceConfig'] : {};
  if (inf['maxTokens'] !== undefined && (typeof inf['maxTokens'] !== 'number' || inf['maxTokens'] < 1)) throw invalid("1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1");
  if (inf['temperature'] !== undefined && (typeof inf['temperature'] !== 'number' || inf['temperature'] < 0 || inf['temperature'] > 1)) {
    throw invalid("1 validation error detected: Value at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1");
  }
  return body;
}

function blockText(b: Rec): string {
  if (typeof b['text'] === 'string') return b['text'];
  if (isRec(b['toolUse'])) return JSON.stringify(b['toolUse']);
  if (isRec(b['toolResult'])) return JSON.stringify(b['toolResult']['content'] ?? '');
  return '';
}

export function conversePlan(engine: ReplyEngine, body: Rec, outputTokens: number | undefined): Reply {
  let prompt = '';
  let prefix = '';
  const add = (b: Rec): void => {
    if (b['cachePoint'] !== undefined) prefix = prompt;
    else prompt += blockText(b);
  };
  const tc = isRec(body['toolConfig']) ? body['toolConfig'] : undefined;
  const tools: Array<{ name: string; schema: unknown }> = [];
  for (const t of tc !== undefined && Array.isArray(tc['tools']) ? (tc['tools'] as unknown[]) : []) {
    if (!isRec(t)) continue;
    if (isRec(t['toolSpec'])) {
      const spec = t['toolSpec'];
      prompt += JSON.stringify(spec);
      tools.push({ name: String(spec['name']), schema: isRec(spec['inputSchema']) ? spec['inputSchema']['json'] : undefined });
    } else if (t['cachePoint'] !== undefined) prefix = prompt;
  }
  for (const b of Array.isArray(body['system']) ? (body['system'] as unknown[]) : []) if (isRec(b)) add(b);
  const msgs = (body['messages'] as unknown[]).filter(isRec);
  for (const m of msgs) for (const b of (m['content'] as unknown[]).filter(isRec)) add(b);
  const last = msgs[msgs.length - 1];
  const afterToolResult = last !== undefined && (last['content'] as unknown[]).some((b) => isRec(b) && b['toolResult'] !== undefined);
  const choice = tc !== undefined && isRec(tc['toolChoice']) ? tc['toolChoice'] : undefined;
  const mode: ToolMode = choice === undefined ? { type: 'auto' } : isRec(choice['any']) ? { type: 'any' } : isRec(choice['tool']) ? { type: 'tool', name: String(choice['tool']['name']) } : { type: 'auto' };
  const inf = isRec(body['inferenceConfig']) ? body['inferenceConfig'] : {};
  const extra = isRec(body['additionalModelRequestFields']) ? body['additionalModelRequestFields'] : {};
  const thinking = (isRec(extra['thinking']) && extra['thinking']['type'] === 'enabled') || (isRec(extra['reasoningConfig']) && extra['reasoningConfig']['type'] === 'enabled');
  return engine.plan({
    promptText: prompt,
    tools,
    toolMode: mode,
    parallelTools: true,
    afterToolResult,
    maxTokens: typeof inf['maxTokens'] === 'number' ? inf['maxTokens'] : undefined,
    forcedTokens: outputTokens,
    thinking,
    json: false,
    cachePrefix: prefix === '' ? undefined : prefix,
  });
}

function usage(r: Reply): BedrockConverseResponse['usage'] {
  const input = r.inputTokens - r.cacheRead - r.cacheWrite;
  return {
    inputTokens: input,
    outputTokens: r.outputTokens,
    totalTokens: r.inputTokens + r.outputTokens,
    ...(r.cacheRead > 0 || r.cacheWrite > 0 ? { cacheReadInputTokens: r.cacheRead, cacheWriteInputTokens: r.cacheWrite } : {}),
  };
}

const stopReason = (r: Reply): string => (r.finish === 'tool' ? 'tool_use' : r.finish === 'length' ? 'max_tokens' : 'end_turn');

export function converseResponse(engine: ReplyEngine, r: Reply): BedrockConverseResponse {
  const content: Rec[] = [];
  if (r.thinking.length > 0) content.push({ reasoningContent: { reasoningText: { text: r.thinking.join('').trim(), signature: engine.id('sig') } } });
  if (r.text.length > 0) content.push({ text: r.text.join('') });
  for (const c of r.toolCalls) content.push({ toolUse: { toolUseId: engine.id('tooluse_'), name: c.name, input: c.args } });
  return {
    output: { message: { role: 'assistant', content: content as unknown as BedrockConverseResponse['output']['message']['content'] } },
    stopReason: stopReason(r),
    usage: usage(r),
    metrics: { latencyMs: 1 },
  };
}

export function eventFrame(type: string, payload: unknown): Buffer {
  return encodeEventStreamMessage({ ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' }, JSON.stringify(payload));
}

export function exceptionFrame(type: string, message: string): Buffer {
  return encodeEventStreamMessage({ ':exception-type': type, ':content-type': 'application/json', ':message-type': 'exception' }, JSON.stringify({ message }));
}

/** ConverseStream frames: text one token per delta, tool input as JSON fragments, then stop and metadata. */
export function converseFrames(engine: ReplyEngine, r: Reply): Buffer[] {
  const out: Buffer[] = [eventFrame('messageStart', { role: 'assistant' })];
  let index = 0;
  if (r.thinking.length > 0) {
    for (const t of r.thinking) out.push(eventFrame('contentBlockDelta', { contentBlockIndex: index, delta: { reasoningContent: { text: t } } }));
    out.push(eventFrame('contentBlockDelta', { contentBlockIndex: index, delta: { reasoningContent: { signature: engine.id('sig') } } }));
    out.push(eventFrame('contentBlockStop', { contentBlockIndex: index }));
    index++;
  }
  if (r.text.length > 0) {
    for (const t of r.text) out.push(eventFrame('contentBlockDelta', { contentBlockIndex: index, delta: { text: t } }));
    out.push(eventFrame('contentBlockStop', { contentBlockIndex: index }));
    index++;
  }
  for (const c of r.toolCalls) {
    out.push(eventFrame('contentBlockStart', { contentBlockIndex: index, start: { toolUse: { toolUseId: engine.id('tooluse_'), name: c.name } } }));
    const json = JSON.stringify(c.args);
    const cut = Math.max(1, Math.floor(json.length / 2));
    for (const input of [json.slice(0, cut), json.slice(cut)]) out.push(eventFrame('contentBlockDelta', { contentBlockIndex: index, delta: { toolUse: { input } } }));
    out.push(eventFrame('contentBlockStop', { contentBlockIndex: index }));
    index++;
  }
  out.push(eventFrame('messageStop', { stopReason: stopReason(r) }));
  out.push(eventFrame('metadata', { usage: usage(r), metrics: { latencyMs: 1 } }));
  return out;
}
