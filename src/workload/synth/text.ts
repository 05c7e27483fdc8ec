// Synthetic content of a requested size, shaped like what each profile's traffic carries (prose,
// JSON API responses, CI logs, source code, UI element lists). Sizes are targets in tokens,
// approximated while generating (a common word with its space is one token, an identifier two or
// three); the exact count of what was generated is taken afterwards with the real tokenizer.
// Random identifiers, numbers and word choices make every session's content unique.
import type { Rng } from '../random.js';

export const WORDS = (
  'the of and to in is that for it as with was on be by this are from or have an they which one you were all we ' +
  'there can more has when will each about how up out them then she many some so these would other into two him ' +
  'time could no make than first been its who now people my made over did down only way find use may water long ' +
  'little very after words called just where most know get through back much before go good new write our used me ' +
  'man too any day same right look think also around another came come work three word must because does part even ' +
  'place well such here take why things help put years different away again off went old number great tell men say ' +
  'small every found still between name should home big give air line set own under read last never us left end ' +
  'along while might next sound below saw something thought both few those always looked show large often together ' +
  'asked house world going want school important until form food keep children feet land side without boy once ' +
  'animals life enough took sometimes four head above kind began almost live page got earth need far hand high year ' +
  'mother light parts country father let night following picture being study second eyes soon times story boys since ' +
  'white days paper hard near sentence better best across during today others however sure means knew try told young ' +
  'miles sun ways thing whole hear example heard several change answer room sea against top turned learn point city ' +
  'play toward five using himself usually money seen car morning given service order value request response account ' +
  'customer report status update create delete config server client error warning build deploy release version ' +
  'package module function method class object array string integer boolean field record table query index cache ' +
  'token limit region cluster node pod container image volume network policy route backend gateway latency metric'
).split(' ');

const NOUNS = 'user order invoice account item product session ticket event job task file repo branch commit payment shipment device sensor region'.split(' ');
const VERBS = 'get list create update delete fetch search resolve compute sync parse render validate load store'.split(' ');
const LEVELS = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];
const HEX = '0123456789abcdef';

export class TextGen {
  private readonly rng: Rng;
  constructor(rng: Rng) {
    this.rng = rng;
  }

  word(): string {
    return this.rng.pick(WORDS);
  }

  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += HEX[this.rng.int(16)];
    return s;
  }

  ident(): string {
    const a = this.rng.pick(VERBS);
    const b = this.rng.pick(NOUNS);
    return this.rng.float() < 0.5 ? `${a}_${b}` : `${a}${b[0]!.toUpperCase()}${b.slice(1)}`;
  }

  path(): string {
    const depth = 1 + this.rng.int(3);
    const parts: string[] = [];
    for (let i = 0; i < depth; i++) parts.push(this.rng.pick(NOUNS) + (this.rng.float() < 0.3 ? `_${this.rng.int(100)}` : ''));
    return `${parts.join('/')}/${this.ident()}.${this.rng.pick(['py', 'ts', 'go', 'rs', 'c', 'yaml'])}`;
  }

  /** A sentence of about `n` words. */
  sentence(n: number): string {
    let s = this.word();
    s = s[0]!.toUpperCase() + s.slice(1);
    for (let i = 1; i < n; i++) s += ' ' + (this.rng.float() < 0.06 ? this.ident() : this.word());
    return s + '.';
  }

  /** Prose of about `tokens` tokens. */
  prose(tokens: number): string {
    let out = '';
    let t = 0;
    while (t < tokens) {
      const n = Math.max(3, Math.min(28, Math.round(tokens - t < 30 ? tokens - t : 8 + this.rng.int(18))));
      out += (out === '' ? '' : this.rng.float() < 0.15 ? '\n\n' : ' ') + this.sentence(n);
      t += n + 1;
    }
    return out;
  }

  /** A JSON API response of about `tokens` tokens, pretty-printed as APIs often return it. */
  jsonResponse(tokens: number): string {
    const lines = ['{', `  "status": "${this.rng.pick(['ok', 'ok', 'success', 'partial'])}",`, `  "request_id": "${this.hex(16)}",`, '  "results": ['];
    let t = 24;
    let first = true;
    while (t < tokens) {
      const rec =
        `    {"id": "${this.hex(8)}", "name": "${this.word()} ${this.word()}", "${this.rng.pick(NOUNS)}_count": ${this.rng.int(100000)}, ` +
        `"score": ${(this.rng.float() * 100).toFixed(2)}, "tags": ["${this.word()}", "${this.word()}"], "description": "${this.sentence(6 + this.rng.int(10)).slice(0, -1)}"}`;
      lines.push((first ? '' : ',') + rec);
      first = false;
      t += 60;
    }
    lines.push('  ]', '}');
    return lines.join('\n');
  }

  /** CI / terminal output of about `tokens` tokens: timestamps, levels, paths, test results. */
  log(tokens: number): string {
    const lines: string[] = [];
    let t = 0;
    let ms = this.rng.int(3_600_000);
    while (t < tokens) {
      ms += this.rng.int(900);
      const ts = `2025-0${1 + this.rng.int(9)}-1${this.rng.int(9)}T${String(Math.floor(ms / 3_600_000) % 24).padStart(2, '0')}:${String(Math.floor(ms / 60_000) % 60).padStart(2, '0')}:${String(Math.floor(ms / 1000) % 60).padStart(2, '0')}.${String(ms % 1000).padStart(3, '0')}Z`;
      const r = this.rng.float();
      let line: string;
      if (r < 0.35) line = `${ts} [${this.rng.pick(LEVELS)}] ${this.rng.pick(VERBS)} ${this.path()} (${this.rng.int(5000)} ms)`;
      else if (r < 0.55) line = `${this.path()}::test_${this.ident()} ${this.rng.float() < 0.9 ? 'PASSED' : 'FAILED'} [${this.rng.int(100)}%]`;
      else if (r < 0.7) line = `  File "${this.path()}", line ${this.rng.int(900)}, in ${this.ident()}`;
      else if (r < 0.85) line = `${ts} ${this.sentence(5 + this.rng.int(9))}`;
      else line = `Step ${this.rng.int(40)}/${40 + this.rng.int(20)} : RUN ${this.rng.pick(['pip install', 'npm ci', 'make -j8', 'cargo build', 'go test ./...'])} ${this.ident()}==${this.rng.int(9)}.${this.rng.int(30)}.${this.rng.int(9)}`;
      lines.push(line);
      t += line.length / 2.9;
    }
    return lines.join('\n');
  }

  /** Source code of about `tokens` tokens (Python-like, indented). */
  code(tokens: number): string {
    const lines: string[] = [];
    let t = 0;
    while (t < tokens) {
      const fn = this.ident();
      const args = [this.rng.pick(NOUNS), this.rng.pick(NOUNS) + '_id'];
      lines.push(`def ${fn}(${args.join(', ')}):`);
      lines.push(`    """${this.sentence(6 + this.rng.int(8))}"""`);
      const body = 2 + this.rng.int(8);
      for (let i = 0; i < body; i++) {
        const r = this.rng.float();
        if (r < 0.3) lines.push(`    ${this.rng.pick(NOUNS)} = ${this.ident()}(${args[0]!}, limit=${this.rng.int(500)})`);
        else if (r < 0.5) lines.push(`    if ${this.rng.pick(NOUNS)}.${this.rng.pick(['status', 'count', 'value'])} > ${this.rng.int(100)}:`, `        raise ValueError("${this.sentence(4).slice(0, -1)}")`);
        else if (r < 0.7) lines.push(`    for item in ${this.rng.pick(NOUNS)}s:`, `        result.append(item.${this.ident()}())`);
        else lines.push(`    # ${this.sentence(5 + this.rng.int(6))}`);
      }
      lines.push(`    return ${this.rng.pick(NOUNS)}`, '');
      t += 24 + body * 14;
    }
    return lines.join('\n');
  }

  /** A screen as a list of UI elements with coordinates (what a text-only model is shown). */
  uiElements(tokens: number): string {
    const lines: string[] = [];
    let t = 0;
    let n = 0;
    while (t < tokens) {
      const kind = this.rng.pick(['button', 'link', 'textbox', 'icon', 'label', 'menuitem', 'checkbox', 'tab']);
      const label = this.rng.float() < 0.8 ? `"${this.word()} ${this.word()}"` : `"${this.ident()}"`;
      lines.push(`[${n++}] ${kind} ${label} at (${this.rng.int(3840)}, ${this.rng.int(2160)})`);
      t += 16.5;
    }
    return lines.join('\n');
  }

  /** Descriptions of callable APIs, in the shape ToolBench puts into its system prompt. */
  apiDocs(tokens: number): string {
    const docs: string[] = [];
    let t = 0;
    while (t < tokens) {
      const name = `${this.ident()}_for_${this.word()}_${this.rng.pick(NOUNS)}`;
      docs.push(
        `{"name": "${name}", "description": "This is the subfunction for tool \\"${this.word()} ${this.rng.pick(NOUNS)}\\". ${this.sentence(8 + this.rng.int(12))}", ` +
          `"parameters": {"type": "object", "properties": {"${this.rng.pick(NOUNS)}": {"type": "string", "description": "${this.sentence(5).slice(0, -1)}", "example_value": "${this.hex(6)}"}}, "required": []}}`,
      );
      t += 90;
    }
    return docs.join(', ');
  }

  callId(): string {
    return `call_${this.hex(24)}`;
  }
}
