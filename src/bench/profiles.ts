// Reading V8 profiles taken by the probe (probe.ts): the CPU profile's hottest functions and a flame
// graph as a standalone SVG, and the sampling heap profile's bytes allocated and top allocation sites.
// The SVG is drawn here, from the .cpuprofile tree, so reading a profile needs no other tool: open
// it in a browser; hovering a frame shows its function, file and share of the samples.

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

export interface CpuProfile {
  readonly nodes: ReadonlyArray<{ readonly id: number; readonly callFrame: CallFrame; readonly hitCount?: number; readonly children?: readonly number[] }>;
  readonly startTime: number;
  readonly endTime: number;
}

interface HeapNode {
  readonly callFrame: CallFrame;
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

export interface HeapProfile {
  readonly head: HeapNode;
}

export interface Site {
  readonly site: string;
  readonly share: number;
  /** Bytes (heap) or samples (CPU) per request. */
  readonly perRequest: number;
}

function siteName(f: CallFrame): string {
  const file = f.url === '' ? '' : f.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|dist|src)\//, '$1/');
  const name = f.functionName === '' ? '(anonymous)' : f.functionName;
  return file === '' ? name : `${name} ${file}:${f.lineNumber + 1}`;
}

function top(bySite: Map<string, number>, total: number, requests: number, n: number): Site[] {
  return [...bySite.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([site, v]) => ({ site, share: total === 0 ? 0 : v / total, perRequest: v / Math.max(1, requests) }));
}

/** Bytes allocated in the profiled window (every sampled allocation, collected or not) and where. */
export function heapSummary(p: HeapProfile, requests: number, n = 12): { bytesPerRequest: number; sites: Site[] } {
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode): void => {
    if (node.selfSize > 0) {
      const k = siteName(node.callFrame);
      bySite.set(k, (bySite.get(k) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const c of node.children) walk(c);
  };
  walk(p.head);
  return { bytesPerRequest: total / Math.max(1, requests), sites: top(bySite, total, requests, n) };
}

/** The functions with the most self time, as a share of the samples and in µs per request. */
export function cpuSummary(p: CpuProfile, requests: number, n = 15): { usPerRequest: number; sites: Site[] } {
  let hits = 0;
  const bySite = new Map<string, number>();
  for (const node of p.nodes) {
    const h = node.hitCount ?? 0;
    if (h === 0) continue;
    hits += h;
    const k = siteName(node.callFrame);
    bySite.set(k, (bySite.get(k) ?? 0) + h);
  }
  const usPerSample = hits === 0 ? 0 : (p.endTime - p.startTime) / hits;
  const sites = top(bySite, hits, requests, n).map((s) => ({ ...s, perRequest: s.perRequest * usPerSample }));
  // Wall time of the window: idle samples are included, so this is an upper bound, not CPU.
  return { usPerRequest: (p.endTime - p.startTime) / Math.max(1, requests), sites };
}

// ---- flame graph --------------------------------------------------------------------------------

const WIDTH = 1600;
const ROW = 17;

interface Frame {
  readonly name: string;
  readonly total: number;
  readonly children: Frame[];
}

function buildFrames(p: CpuProfile): Frame {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const build = (id: number): Frame => {
    const n = byId.get(id);
    if (n === undefined) return { name: '?', total: 0, children: [] };
    const children = (n.children ?? []).map(build).filter((c) => c.total > 0);
    const total = (n.hitCount ?? 0) + children.reduce((a, c) => a + c.total, 0);
    return { name: siteName(n.callFrame), total, children: children.sort((a, b) => a.name.localeCompare(b.name)) };
  };
  const root = p.nodes[0];
  return root === undefined ? { name: 'root', total: 0, children: [] } : build(root.id);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c);
}

/** Colour by where the code lives, so the gateway's own frames stand out from Node's and libraries'. */
function colour(name: string): string {
  if (name.includes('dist/') || name.includes('src/')) return '#e8743b';
  if (name.includes('node_modules/')) return '#d9b43c';
  if (name.includes('node:')) return '#6fa8dc';
  return '#b7b7b7';
}

/** An icicle flame graph (root on top) of a CPU profile; frames under 0.1% of the samples are left out. */
export function flameSvg(p: CpuProfile, title: string): string {
  const root = buildFrames(p);
  const rects: string[] = [];
  let depth = 0;
  const scale = root.total === 0 ? 0 : WIDTH / root.total;
  const draw = (f: Frame, x: number, level: number): void => {
    const w = f.total * scale;
    if (w < WIDTH * 0.001) return;
    depth = Math.max(depth, level);
    const y = 24 + level * ROW;
    const pct = ((f.total / Math.max(1, root.total)) * 100).toFixed(2);
    const label = w > 40 ? `<text x="${(x + 3).toFixed(1)}" y="${y + 12}" clip-path="url(#c${rects.length})">${escapeXml(f.name)}</text>` : '';
    rects.push(
      `<g><title>${escapeXml(f.name)} (${pct}%)</title><clipPath id="c${rects.length}"><rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${ROW - 1}"/></clipPath><rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${ROW - 1}" fill="${colour(f.name)}"/>${label}</g>`,
    );
    let cx = x;
    for (const c of f.children) {
      draw(c, cx, level + 1);
      cx += c.total * scale;
    }
  };
  draw(root, 0, 0);
  const height = 24 + (depth + 1) * ROW + 4;
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="monospace" font-size="11">
<text x="4" y="16" font-size="13">${escapeXml(title)} — ${root.total} samples; orange: the gateway, yellow: libraries, blue: Node.js</text>
${rects.join('\n')}
</svg>
`;
}

export function formatSites(title: string, unit: string, sites: readonly Site[]): string {
  const lines = [title];
  for (const s of sites) lines.push(`  ${(s.share * 100).toFixed(1).padStart(5)}%  ${s.perRequest.toFixed(s.perRequest < 10 ? 2 : 0).padStart(8)} ${unit}  ${s.site}`);
  return lines.join('\n') + '\n';
}
