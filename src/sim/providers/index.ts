// Provider-native simulators: each serves one provider's real wire format (streamed and not) and
// checks credentials as the provider does. `openai` is the vLLM-faithful engine itself (sim/index.ts).
import { startAnthropicSim } from './anthropic.js';
import { startAzureSim } from './azure.js';
import { startBedrockSim } from './bedrock.js';
import { startGeminiSim } from './gemini.js';
import type { ProviderApi, ProviderSimOptions, ProviderSimServer } from './server.js';
import { startVertexSim } from './vertex.js';

export type { ProviderApi, ProviderSimOptions, ProviderSimServer } from './server.js';
export type { SeenRequest } from './http.js';

export const PROVIDER_APIS: readonly ProviderApi[] = ['gemini', 'vertex', 'anthropic', 'bedrock', 'azure'];

export function isProviderApi(s: string): s is ProviderApi {
  return (PROVIDER_APIS as readonly string[]).includes(s);
}

export function startProviderSim(api: ProviderApi, opts: ProviderSimOptions = {}): Promise<ProviderSimServer> {
  switch (api) {
    case 'gemini':
      return startGeminiSim(opts);
    case 'vertex':
      return startVertexSim(opts);
    case 'anthropic':
      return startAnthropicSim(opts);
    case 'bedrock':
      return startBedrockSim(opts);
    case 'azure':
      return startAzureSim(opts);
  }
}
