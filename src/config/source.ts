// YAML text → documents, with positions. The syntax tree is expensive to keep for tens of thousands
// of manifests, so a file keeps only its text and re-parses on demand when a later stage needs the
// position of some node (which only happens when there is a problem to report).
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { NO_POS, type Pos } from './diagnostics.js';

export interface Ast {
  readonly docs: readonly Document.Parsed[];
  readonly lines: LineCounter;
}

export function parseYaml(text: string): Ast {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, merge: true, uniqueKeys: true });
  return { docs: Array.isArray(parsed) ? parsed : [], lines };
}

export class SourceText {
  readonly path: string;
  readonly text: string;
  #ast: Ast | undefined;

  constructor(path: string, text: string, ast?: Ast) {
    this.path = path;
    this.text = text;
    this.#ast = ast;
  }

  ast(): Ast {
    this.#ast ??= parseYaml(this.text);
    return this.#ast;
  }

  /** Drops the syntax tree; positions are recomputed from the text if asked for again. */
  release(): void {
    this.#ast = undefined;
  }

  posOf(offset: number): Pos {
    const lp = this.ast().lines.linePos(offset);
    return { line: lp.line, column: lp.col };
  }

  /**
   * Position of the node at `path` inside document `docIndex`; with `atKey`, of the key naming the
   * last path element. A path that does not exist resolves to its deepest existing ancestor (where a
   * missing field would have to be added).
   */
  locate(docIndex: number, path: readonly PropertyKey[], atKey = false): Pos {
    const ast = this.ast();
    const doc = ast.docs[docIndex];
    if (doc === undefined) return NO_POS;
    let node: unknown = doc.contents;
    let pos = rangeStart(node);
    for (let i = 0; i < path.length; i++) {
      if (isAlias(node)) node = node.resolve(doc);
      const seg = path[i];
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (pair === undefined) break;
        const last = i === path.length - 1;
        if (last && atKey) {
          pos = rangeStart(pair.key) ?? pos;
          break;
        }
        if (pair.value === null) {
          pos = rangeStart(pair.key) ?? pos;
          break;
        }
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined) break;
        node = item;
      } else {
        break;
      }
      pos = rangeStart(node) ?? pos;
    }
    return pos === undefined ? NO_POS : this.posOf(pos);
  }
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range === undefined || range === null ? undefined : range[0];
}

/** One document (or one item of a `List`) of a file. */
export class SourceDoc {
  readonly source: SourceText;
  readonly docIndex: number;
  /** Path of this manifest inside the document: empty, or `items[i]` of a List. */
  readonly base: readonly PropertyKey[];

  constructor(source: SourceText, docIndex: number, base: readonly PropertyKey[]) {
    this.source = source;
    this.docIndex = docIndex;
    this.base = base;
  }

  get file(): string {
    return this.source.path;
  }

  locate(path: readonly PropertyKey[], atKey = false): Pos {
    return this.source.locate(this.docIndex, [...this.base, ...path], atKey);
  }
}
