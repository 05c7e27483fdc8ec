// Names a client sees are `<backend>__<name>`, as Envoy AI Gateway prefixes tools: the prefix says
// which MCP server of the route a tool, prompt, resource or server request belongs to.
export const SEPARATOR = '__';

export function splitName(name: string): { backend: string; rest: string } | undefined {
  const i = name.indexOf(SEPARATOR);
  if (i <= 0 || i + SEPARATOR.length >= name.length) return undefined;
  return { backend: name.slice(0, i), rest: name.slice(i + SEPARATOR.length) };
}
