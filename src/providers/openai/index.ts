import type { Provider } from '../types.js';
import { translateOpenAIRequest } from './request.js';
import { openAIResponseTranslator, translateOpenAIError } from './response.js';

export const openAIProvider: Provider = {
  name: 'openai',
  translateRequest: translateOpenAIRequest,
  responseTranslator: openAIResponseTranslator,
  translateError: translateOpenAIError,
};
