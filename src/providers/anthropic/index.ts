// Claude behind the OpenAI front door, on each of its hosts.
import type { Provider } from '../types.js';
import { translateToAnthropic, type ClaudeHost } from './request.js';
import { anthropicResponseTranslator, translateAnthropicError } from './response.js';

function claude(name: string, host: ClaudeHost): Provider {
  return {
    name,
    translateRequest: (req, ref) => translateToAnthropic(req, ref, host),
    responseTranslator: (req, contentType) => anthropicResponseTranslator(req, contentType, host === 'aws'),
    translateError: translateAnthropicError,
  };
}

export const anthropicProvider = claude('anthropic', 'anthropic');
export const gcpAnthropicProvider = claude('gcp-anthropic', 'gcp');
export const awsAnthropicProvider = claude('aws-anthropic', 'aws');
