// Gemini schemas as the JSON Schema the pivot carries. Gemini's responseSchema may describe any JSON
// value (an ARRAY of recipes is Google's own example), but OpenAI-style json_schema response formats
// take only an object at the root: such a schema goes to the pivot wrapped as the one property of an
// object, and the answer's text is unwrapped again (see from-chat.ts).
import { isRecord, parseJson, type Json } from '../../providers/shared/json.js';

// Gemini's int64 fields arrive as JSON strings ("1"); JSON Schema wants numbers.
const INT64_KEYWORDS: ReadonlySet<string> = new Set(['minItems', 'maxItems', 'minLength', 'maxLength', 'minProperties', 'maxProperties']);
// Values, not schemas: copied as they are.
const LITERAL_KEYWORDS: ReadonlySet<string> = new Set(['enum', 'example', 'default', 'required']);

/** Gemini's OpenAPI-subset Schema (upper-case type names) as JSON Schema. */
export function jsonSchemaOf(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(jsonSchemaOf);
  if (!isRecord(s)) return s;
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'type' && typeof v === 'string') {
      if (v !== 'TYPE_UNSPECIFIED') out[k] = v.toLowerCase();
    } else if (k === 'nullable' || k === 'propertyOrdering') continue;
    // Gemini's marker for string enums; not a JSON Schema format.
    else if (k === 'format' && v === 'enum') continue;
    else if (INT64_KEYWORDS.has(k) && typeof v === 'string' && /^\d+$/.test(v)) out[k] = Number(v);
    else if (LITERAL_KEYWORDS.has(k)) out[k] = v;
    else if (k === 'properties' && isRecord(v)) out[k] = Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, jsonSchemaOf(ps)]));
    else out[k] = typeof v === 'object' ? jsonSchemaOf(v) : v;
  }
  if (s['nullable'] === true) {
    if (typeof out['type'] === 'string') out['type'] = [out['type'], 'null'];
    if (Array.isArray(out['enum']) && !out['enum'].includes(null)) out['enum'] = [...(out['enum'] as unknown[]), null];
  }
  return out;
}

const KEY = 'value';

/** The JSON Schema a generationConfig asks the answer to follow, if any (responseJsonSchema wins, as in Gemini). */
function clientSchema(g: Readonly<Json>): unknown {
  return g['responseJsonSchema'] ?? (g['responseSchema'] === undefined ? undefined : jsonSchemaOf(g['responseSchema']));
}

/**
 * How to unwrap the pivot's answer for this request, when its schema's root is not an object; as
 * JSON text, or for `text/x.enum` (Gemini's enum mode) the bare enum value.
 */
export function rootUnwrapper(body: Readonly<Json>): ((text: string) => string) | undefined {
  const g = body['generationConfig'];
  if (!isRecord(g)) return undefined;
  const s = clientSchema(g);
  if (s === undefined || (isRecord(s) && s['type'] === 'object')) return undefined;
  const bare = g['responseMimeType'] === 'text/x.enum';
  return (text) => unwrapText(text, bare);
}

/** The schema for the pivot's response_format, when the generationConfig has one. */
export function pivotSchema(g: Readonly<Json>): unknown {
  const s = clientSchema(g);
  if (s === undefined || (isRecord(s) && s['type'] === 'object')) return s;
  return { type: 'object', properties: { [KEY]: s }, required: [KEY], additionalProperties: false };
}

/** The client's value out of a wrapped answer; text that is not one (a backend that ignored the schema) stays as it is. */
function unwrapText(text: string, bare: boolean): string {
  const v = parseJson(text);
  if (!isRecord(v) || !(KEY in v) || Object.keys(v).length !== 1) return text;
  return bare && typeof v[KEY] === 'string' ? v[KEY] : JSON.stringify(v[KEY]);
}
