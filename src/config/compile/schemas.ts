// Which AIServiceBackend schemas Tollgate can speak, and what each needs from its config.
import type { Manifest } from '../parse.js';
import type { UpstreamCredential } from '../types.js';
import { type Ctx, error } from './context.js';

export function checkSchema(ctx: Ctx, m: Manifest<'AIServiceBackend'>, credential: UpstreamCredential | undefined): void {
  const schema = m.value.spec.schema;
  const at = ['spec', 'schema', 'name'] as const;
  switch (schema.name) {
    case 'OpenAI':
    case 'AzureOpenAI':
    case 'AWSBedrock':
    case 'AWSAnthropic':
    case 'Anthropic':
    case 'GeminiAPI':
      return;
    case 'GCPVertexAI':
    case 'GCPAnthropic':
      // Vertex AI paths name the project and region; they come with the GCPCredentials policy.
      if (credential === undefined || credential.kind !== 'bearer-token' || credential.gcp === undefined) {
        error(ctx, m, at, `schema ${schema.name} needs a GCPCredentials BackendSecurityPolicy (it names the project and region)`, 'attach a BackendSecurityPolicy of type GCPCredentials with projectName and region');
      }
      return;
    case 'Cohere':
      // Rerank only (Cohere's /v2/rerank); other operations to it are refused per request.
      return;
  }
}
