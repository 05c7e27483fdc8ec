// Provider lookup by AIServiceBackend schema. Config compilation rejects schemas that have no
// provider, so the request path never sees one. Every provider also serves the other front doors:
// Anthropic Messages (operation `messages`), the OpenAI Responses API and the Gemini API (src/ingress).
import type { ApiSchemaName } from '../config/types.js';
import { anthropicProvider, awsAnthropicProvider, gcpAnthropicProvider } from './anthropic/index.js';
import { azureOpenAIProvider } from './azure/index.js';
import { bedrockProvider } from './bedrock/index.js';
import { cohereProvider } from './cohere/index.js';
import { geminiAPIProvider, vertexGeminiProvider } from './gemini/index.js';
import { withMessages } from './messages/index.js';
import { withIngress } from '../ingress/codec.js';
import { filesCodec } from '../ingress/files/index.js';
import { geminiCodec } from '../ingress/gemini/index.js';
import { responsesCodec } from '../ingress/responses/index.js';
import { openAIProvider } from './openai/index.js';
import type { Provider } from './types.js';

const INGRESSES = [responsesCodec, geminiCodec, filesCodec];

const PROVIDERS = {
  OpenAI: withIngress(withMessages(openAIProvider, undefined), INGRESSES),
  AzureOpenAI: withIngress(withMessages(azureOpenAIProvider, undefined), INGRESSES),
  AWSBedrock: withIngress(withMessages(bedrockProvider, undefined), INGRESSES),
  AWSAnthropic: withIngress(withMessages(awsAnthropicProvider, 'aws'), INGRESSES),
  GCPVertexAI: withIngress(withMessages(vertexGeminiProvider, undefined), INGRESSES),
  GCPAnthropic: withIngress(withMessages(gcpAnthropicProvider, 'gcp'), INGRESSES),
  Anthropic: withIngress(withMessages(anthropicProvider, 'anthropic'), INGRESSES),
  GeminiAPI: withIngress(withMessages(geminiAPIProvider, undefined), INGRESSES),
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
