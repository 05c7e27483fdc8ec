// Gemini `generateContent` wire types, shared by the Gemini API (generativelanguage.googleapis.com,
// https://ai.google.dev/api/generate-content) and Vertex AI (aiplatform.googleapis.com,
// publishers/google/models/*). The subset the gateway and the simulators read or write.

export interface GeminiPart {
  text?: string;
  /** True on parts that carry the model's thought summary. */
  thought?: boolean;
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType?: string; fileUri: string };
  functionCall?: { id?: string; name: string; args?: Record<string, unknown> };
  functionResponse?: { id?: string; name: string; response: Record<string, unknown> };
  [k: string]: unknown;
}

export interface GeminiContent {
  role?: 'user' | 'model';
  parts: GeminiPart[];
}

export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  /** OpenAPI 3.0 schema subset. */
  parameters?: Record<string, unknown>;
  /** Full JSON Schema (what OpenAI clients send); preferred by the gateway. */
  parametersJsonSchema?: unknown;
}

export interface GeminiTool {
  functionDeclarations?: GeminiFunctionDeclaration[];
  [k: string]: unknown;
}

export type GeminiFunctionCallingMode = 'AUTO' | 'ANY' | 'NONE' | 'VALIDATED';

export interface GeminiToolConfig {
  functionCallingConfig?: { mode?: GeminiFunctionCallingMode; allowedFunctionNames?: string[] };
}

export interface GeminiThinkingConfig {
  thinkingBudget?: number;
  includeThoughts?: boolean;
  thinkingLevel?: 'LOW' | 'MEDIUM' | 'HIGH' | 'MINIMAL';
}

export interface GeminiGenerationConfig {
  temperature?: number;
  topP?: number;
  topK?: number;
  candidateCount?: number;
  maxOutputTokens?: number;
  stopSequences?: string[];
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed?: number;
  responseMimeType?: string;
  responseSchema?: unknown;
  responseJsonSchema?: unknown;
  responseLogprobs?: boolean;
  logprobs?: number;
  thinkingConfig?: GeminiThinkingConfig;
  [k: string]: unknown;
}

export interface GeminiGenerateContentRequest {
  contents: GeminiContent[];
  systemInstruction?: GeminiContent;
  tools?: GeminiTool[];
  toolConfig?: GeminiToolConfig;
  generationConfig?: GeminiGenerationConfig;
  safetySettings?: unknown[];
  cachedContent?: string;
  labels?: Record<string, string>;
  [k: string]: unknown;
}

export type GeminiFinishReason =
  | 'FINISH_REASON_UNSPECIFIED'
  | 'STOP'
  | 'MAX_TOKENS'
  | 'SAFETY'
  | 'RECITATION'
  | 'LANGUAGE'
  | 'OTHER'
  | 'BLOCKLIST'
  | 'PROHIBITED_CONTENT'
  | 'SPII'
  | 'MALFORMED_FUNCTION_CALL'
  | 'IMAGE_SAFETY'
  | 'UNEXPECTED_TOOL_CALL'
  | 'TOO_MANY_TOOL_CALLS';

export interface GeminiCandidate {
  content?: GeminiContent;
  /** A GeminiFinishReason (kept open for new values). */
  finishReason?: string;
  index?: number;
  safetyRatings?: unknown[];
  finishMessage?: string;
  [k: string]: unknown;
}

export interface GeminiUsageMetadata {
  /** Prompt tokens, cached ones included. */
  promptTokenCount?: number;
  cachedContentTokenCount?: number;
  /** Generated tokens, thoughts excluded. */
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  toolUsePromptTokenCount?: number;
  totalTokenCount?: number;
  [k: string]: unknown;
}

export interface GeminiGenerateContentResponse {
  candidates?: GeminiCandidate[];
  promptFeedback?: { blockReason?: string; [k: string]: unknown };
  usageMetadata?: GeminiUsageMetadata;
  modelVersion?: string;
  responseId?: string;
  createTime?: string;
}

/** Google API error envelope (google.rpc.Status in JSON). */
export interface GoogleErrorBody {
  error: { code: number; message: string; status: string; details?: unknown[] };
}

// ---- embeddings ---------------------------------------------------------------------------------

/** Gemini API `models/{model}:batchEmbedContents`. */
export interface GeminiBatchEmbedRequest {
  requests: Array<{ model: string; content: GeminiContent; taskType?: string; outputDimensionality?: number }>;
}
export interface GeminiBatchEmbedResponse {
  embeddings: Array<{ values: number[] }>;
}

/** Vertex AI text-embedding `:predict`. */
export interface VertexPredictEmbedRequest {
  instances: Array<{ content: string; task_type?: string }>;
  parameters?: { outputDimensionality?: number; autoTruncate?: boolean };
}
export interface VertexPredictEmbedResponse {
  predictions: Array<{ embeddings: { values: number[]; statistics?: { token_count?: number; truncated?: boolean } } }>;
}
