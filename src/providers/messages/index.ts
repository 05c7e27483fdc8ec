// The Anthropic Messages front door (/v1/messages) on top of any provider: Claude hosts get the
// request as it came (passthrough), every other backend gets it translated to OpenAI chat and then
// through its own translator, and the answer translated back.
import type { ClaudeHost } from '../anthropic/request.js';
import type { ClientRequest, Provider, ResponseTranslator } from '../types.js';
import { OpenAIToAnthropic } from './from-openai.js';
import { countTokensRequest, countTokensResponse, passthroughRequest, passthroughResponse } from './passthrough.js';
import { anthropicToOpenAI } from './to-openai.js';

// One OpenAI form per client request, shared by the request and response sides and by retries.
const asOpenAI = new WeakMap<ClientRequest, ClientRequest>();

function openAIForm(req: ClientRequest): ClientRequest {
  let r = asOpenAI.get(req);
  if (r === undefined) {
    const body = anthropicToOpenAI(req.body);
    r = { operation: 'chat', subpath: '/chat/completions', query: '', body, raw: Buffer.from(JSON.stringify(body)), stream: req.stream };
    asOpenAI.set(req, r);
  }
  return r;
}

/** `base` for OpenAI operations; /v1/messages handled natively (`claude`) or by translation. */
export function withMessages(base: Provider, claude: ClaudeHost | undefined): Provider {
  return {
    name: base.name,
    translateRequest(req, ref) {
      // count_tokens reaches a provider only when every backend of the rule serves Claude.
      if (req.operation === 'count_tokens' && claude !== undefined) return countTokensRequest(req, ref, claude);
      if (req.operation !== 'messages') return base.translateRequest(req, ref);
      if (claude !== undefined) return passthroughRequest(req, ref, claude);
      return base.translateRequest(openAIForm(req), ref);
    },
    responseTranslator(req, contentType, reading): ResponseTranslator {
      if (req.operation === 'count_tokens' && claude !== undefined) return countTokensResponse(req, contentType, claude);
      if (req.operation !== 'messages') return base.responseTranslator(req, contentType, reading);
      if (claude !== undefined) return passthroughResponse(req, contentType);
      const model = typeof req.body['model'] === 'string' ? req.body['model'] : '';
      return new OpenAIToAnthropic(base.responseTranslator(openAIForm(req), contentType, reading), model, req.stream);
    },
    translateError: (status, contentType, body, backendName) => base.translateError(status, contentType, body, backendName),
  };
}
