// Gemini behind the OpenAI front door: the Gemini API (GeminiAPI schema) and Vertex AI (GCPVertexAI).
import type { Provider } from '../types.js';
import { translateToGemini, type GeminiHost } from './request.js';
import { geminiResponseTranslator, translateGeminiError } from './response.js';

function gemini(name: string, host: GeminiHost): Provider {
  return {
    name,
    translateRequest: (req, ref) => translateToGemini(req, ref, host),
    responseTranslator: (req) => geminiResponseTranslator(req, host),
    translateError: translateGeminiError,
  };
}

export const geminiAPIProvider = gemini('gemini', 'gemini');
export const vertexGeminiProvider = gemini('vertex', 'vertex');
