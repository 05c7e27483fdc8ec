// Provider lookup by AIServiceBackend schema. Config compilation rejects schemas that have no
// provider, so the request path never sees one. Every provider also serves the Anthropic Messages
// front door (operation `messages`).
import type { ApiSchemaName } from '../config/types.js';
import { anthropicProvider, awsAnthropicProvider, gcpAnthropicProvider } from './anthropic/index.js';
import { azureOpenAIProvider } from './azure/index.js';
import { bedrockProvider } from './bedrock/index.js';
import { cohereProvider } from './cohere/index.js';
import { geminiAPIProvider, vertexGeminiProvider } from './gemini/index.js';
import { withMessages } from './messages/index.js';
import { openAIProvider } from './openai/index.js';
import type { Provider } from './types.js';

const PROVIDERS = {
  OpenAI: withMessages(openAIProvider, undefined),
  AzureOpenAI: withMessages(azureOpenAIProvider, undefined),
  AWSBedrock: withMessages(bedrockProvider, undefined),
  AWSAnthropic: withMessages(awsAnthropicProvider, 'aws'),
  GCPVertexAI: withMessages(vertexGeminiProvider, undefined),
  GCPAnthropic: withMessages(gcpAnthropicProvider, 'gcp'),
  Anthropic: withMessages(anthropicProvider, 'anthropic'),
  GeminiAPI: withMessages(geminiAPIProvider, undefined),
  Cohere: cohereProvider,
} as const satisfies Partial<Record<ApiSchemaName, Provider>>;

export function providerFor(schema: ApiSchemaName): Provider | undefined {
  switch (schema) {
    case 'OpenAI':
    case 'AzureOpenAI':
    case 'AWSBedrock':
    case 'AWSAnthropic':
    case 'GCPVertexAI':
    case 'GCPAnthropic':
    case 'Anthropic':
    case 'GeminiAPI':
    case 'Cohere':
      return PROVIDERS[schema];
  }
}

/** The `gen_ai.provider.name` value (OpenTelemetry GenAI conventions) for a schema. */
export function providerName(schema: ApiSchemaName): string {
  switch (schema) {
    case 'OpenAI':
      return 'openai';
    case 'AzureOpenAI':
      return 'azure.ai.openai';
    case 'AWSBedrock':
    case 'AWSAnthropic':
      return 'aws.bedrock';
    case 'GCPVertexAI':
    case 'GCPAnthropic':
      return 'gcp.vertex_ai';
    case 'Anthropic':
      return 'anthropic';
    case 'Cohere':
      return 'cohere';
    case 'GeminiAPI':
      return 'gcp.gemini';
  }
}
