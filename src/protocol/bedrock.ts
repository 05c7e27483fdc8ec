// Amazon Bedrock Runtime wire types: Converse / ConverseStream
// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html) and the
// InvokeModel stream envelope. Streams use AWS event-stream framing (see eventstream.ts); each event's
// payload is the JSON of the event member named by the `:event-type` header.

export type BedrockImageFormat = 'png' | 'jpeg' | 'gif' | 'webp';

export type BedrockContentBlock =
  | { text: string }
  | { image: { format: BedrockImageFormat; source: { bytes: string } } }
  | { toolUse: { toolUseId: string; name: string; input: unknown } }
  | {
      toolResult: {
        toolUseId: string;
        content: Array<{ text: string } | { json: unknown } | { image: { format: BedrockImageFormat; source: { bytes: string } } }>;
        status?: 'success' | 'error';
      };
    }
  | { reasoningContent: { reasoningText?: { text: string; signature?: string }; redactedContent?: string } }
  | { cachePoint: { type: 'default' } };

export interface BedrockMessage {
  role: 'user' | 'assistant';
  content: BedrockContentBlock[];
}

export type BedrockSystemBlock = { text: string } | { cachePoint: { type: 'default' } };

export interface BedrockToolSpec {
  toolSpec: { name: string; description?: string; inputSchema: { json: unknown } };
}

export type BedrockToolChoice = { auto: Record<string, never> } | { any: Record<string, never> } | { tool: { name: string } };

export interface BedrockConverseRequest {
  messages: BedrockMessage[];
  system?: BedrockSystemBlock[];
  inferenceConfig?: { maxTokens?: number; temperature?: number; topP?: number; stopSequences?: string[] };
  toolConfig?: { tools: Array<BedrockToolSpec | { cachePoint: { type: 'default' } }>; toolChoice?: BedrockToolChoice };
  additionalModelRequestFields?: Record<string, unknown>;
  additionalModelResponseFieldPaths?: string[];
  [k: string]: unknown;
}

export type BedrockStopReason =
  | 'end_turn'
  | 'tool_use'
  | 'max_tokens'
  | 'stop_sequence'
  | 'guardrail_intervened'
  | 'content_filtered'
  | 'model_context_window_exceeded';

export interface BedrockUsage {
  /** Input tokens not read from or written to the prompt cache. */
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
}

export interface BedrockConverseResponse {
  output: { message: BedrockMessage };
  stopReason: string;
  usage: BedrockUsage;
  metrics?: { latencyMs: number };
  additionalModelResponseFields?: unknown;
}

/** ConverseStream events: the `:event-type` header names the member, the payload is its JSON. */
export interface BedrockStreamEvents {
  messageStart: { role: 'assistant' };
  contentBlockStart: { contentBlockIndex: number; start: { toolUse?: { toolUseId: string; name: string } } };
  contentBlockDelta: {
    contentBlockIndex: number;
    delta: { text?: string; toolUse?: { input: string }; reasoningContent?: { text?: string; signature?: string; redactedContent?: string } };
  };
  contentBlockStop: { contentBlockIndex: number };
  messageStop: { stopReason: string; additionalModelResponseFields?: unknown };
  metadata: { usage: BedrockUsage; metrics?: { latencyMs: number } };
}

export type BedrockStreamEventType = keyof BedrockStreamEvents;

/** Exceptions a stream can carry instead of an event (`:message-type: exception`). */
export const BEDROCK_STREAM_EXCEPTIONS = [
  'internalServerException',
  'modelStreamErrorException',
  'validationException',
  'throttlingException',
  'serviceUnavailableException',
] as const;

/** InvokeModelWithResponseStream: each `chunk` event carries base64 model-native bytes. */
export interface BedrockInvokeChunk {
  bytes: string;
}

/** Titan text embeddings (InvokeModel body and response). */
export interface TitanEmbedRequest {
  inputText: string;
  dimensions?: number;
  normalize?: boolean;
}
export interface TitanEmbedResponse {
  embedding: number[];
  inputTextTokenCount: number;
}

/** The SigV4 signing name of bedrock-runtime. */
export const BEDROCK_SIGNING_SERVICE = 'bedrock';
