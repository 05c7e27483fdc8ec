// Cheap pseudo-text of an exact token length. Every piece is one token in the served encoding (a
// common word with its leading space, a sentence starter, "." or ","), and the pieces re-tokenize
// to themselves, so N generated tokens read back as N tokens: a client or gateway that counts the
// completion with the same tokenizer agrees with the reported usage, and a multi-turn client that
// sends the text back hits the prefix cache on exactly the blocks the engine cached.
import type { Tokenizer } from '../tokenizer/index.js';
import type { Rng } from './rng.js';

const WORDS = `the of and to in is that for it as with was on be by this are from at or have an they which one you were all we
can her has there been if more when will would who so no out up into do than them time some could these two may then first any
my now such like our over man me even most made after also did many before must through back years where much your way well down
should because each just those people how too little state good very make world still own see men work long get here between both
life being under never day same another know while last might us great old year off come since against go came right used take
three states himself few house use during without again place around however home small found thought went say part once general
high upon school every does got left number course until always away something fact though water less public put think almost
hand enough far took head yet system better set told nothing night end why called find going look asked later knew point next
program city business give group toward young days let room side social given present several order national possible rather
second face per among form important often things looking early white case become large big need four within felt along children
saw best ever least power development light thing seemed family interest want members others mind country area done turned
although open service certain kind problem began different door thus help sense means whole matter perhaps itself times law human
line above name example action company hands local show whether five history gave today either act feet across taken past quite
anything seen having week experience body word half really field car words already themselves information tell college shall money
period held keep sure probably free seems real behind question air office making brought whose special heard major problems ago
became moment study available known result street boy position reason change south board individual job areas society west close
turn love community true court force full seem`.split(/\s+/);

const STARTERS = ['The', 'This', 'It', 'We', 'In', 'A', 'For', 'When', 'If', 'You', 'That', 'There', 'Our', 'Most', 'Some', 'Each', 'They', 'Many'];

export interface Piece {
  readonly id: number;
  readonly text: string;
}

export interface Vocab {
  readonly encoding: string;
  /** Mid-sentence words, " word". */
  readonly words: readonly Piece[];
  /** Sentence starters after a period, " The". */
  readonly starters: readonly Piece[];
  /** The very first token of a reply, "The" (no leading space). */
  readonly openers: readonly Piece[];
  readonly period: Piece;
  readonly comma: Piece;
  /** id → text for every piece. */
  readonly text: ReadonlyMap<number, string>;
}

function single(tok: Tokenizer, text: string): Piece | undefined {
  const ids = tok.encode(text);
  return ids.length === 1 ? { id: ids[0] as number, text } : undefined;
}

export function buildVocab(tok: Tokenizer): Vocab {
  const pick = (texts: string[]): Piece[] => texts.map((t) => single(tok, t)).filter((p): p is Piece => p !== undefined);
  const words = pick(WORDS.filter((w) => w.length > 0).map((w) => ` ${w}`));
  const starters = pick(STARTERS.map((w) => ` ${w}`));
  const openers = pick(STARTERS);
  const period = single(tok, '.');
  const comma = single(tok, ',');
  if (words.length < 50 || starters.length === 0 || openers.length === 0 || period === undefined || comma === undefined) {
    throw new Error(`encoding ${tok.encoding} lacks the single-token words the text generator needs`);
  }
  const text = new Map<number, string>();
  for (const p of [...words, ...starters, ...openers, period, comma]) text.set(p.id, p.text);
  return { encoding: tok.encoding, words, starters, openers, period, comma, text };
}

/** Per-sequence generator state: sentence position, drawing from a seeded stream. */
export class TextGen {
  private produced = 0;
  private sinceStop = 0;
  private sentenceLen: number;

  constructor(
    private readonly vocab: Vocab,
    private readonly rng: Rng,
  ) {
    this.sentenceLen = 8 + rng.int(14);
  }

  /** The next token id. */
  next(): number {
    const v = this.vocab;
    const r = this.rng;
    let p: Piece;
    if (this.produced === 0) p = v.openers[r.int(v.openers.length)] as Piece;
    else if (this.sinceStop === -1) {
      p = v.starters[r.int(v.starters.length)] as Piece;
      this.sinceStop = 0;
    } else if (this.sinceStop >= this.sentenceLen) {
      p = v.period;
      this.sinceStop = -1;
      this.sentenceLen = 8 + r.int(14);
    } else if (this.sinceStop > 3 && r.next() < 0.06) {
      p = v.comma;
      this.sinceStop++;
    } else {
      p = v.words[r.int(v.words.length)] as Piece;
      this.sinceStop++;
    }
    this.produced++;
    return p.id;
  }
}

export function pieceText(vocab: Vocab, id: number): string {
  return vocab.text.get(id) ?? '';
}

/** n tokens of text in one go (tool-call arguments, replay pacing). */
export function generateText(vocab: Vocab, rng: Rng, n: number): string {
  const g = new TextGen(vocab, rng);
  let s = '';
  for (let i = 0; i < n; i++) s += pieceText(vocab, g.next());
  return s;
}

/** Single words (no leading space) from the vocabulary, for schema-driven values. */
export function wordSource(vocab: Vocab): (rng: Rng) => string {
  return (rng) => (vocab.words[rng.int(vocab.words.length)] as Piece).text.trim();
}
