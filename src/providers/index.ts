// Provider lookup by AIServiceBackend schema. Config compilation rejects schemas that have no
// provider yet, so the request path never sees one.
import type { ApiSchemaName } from '../config/types.js';
import { openAIProvider } from './openai/index.js';
import type { Provider } from './types.js';

export function providerFor(schema: ApiSchemaName): Provider | undefined {
  switch (schema) {
    case 'OpenAI':
      return openAIProvider;
    case 'AzureOpenAI':
    case 'AWSBedrock':
    case 'AWSAnthropic':
    case 'GCPVertexAI':
    case 'GCPAnthropic':
    case 'Anthropic':
    case 'Cohere':
    case 'GeminiAPI':
      return undefined;
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
