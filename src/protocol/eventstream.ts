// AWS event-stream framing (application/vnd.amazon.eventstream), as Bedrock's streaming APIs use it:
//   total length (u32) | headers length (u32) | prelude CRC32 (u32) | headers | payload | message CRC32
// all big-endian; CRC32 is IEEE 802.3 (zlib's). Headers are `name-length (u8) | name | type (u8) | value`.
// Parsed once into typed messages; a corrupt frame is an error, never a guess.

export type HeaderValue = string | number | boolean | bigint | Buffer | Date;

export interface EventStreamMessage {
  readonly headers: Readonly<Record<string, HeaderValue>>;
  readonly payload: Buffer;
}

export class EventStreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventStreamError';
  }
}

const PRELUDE = 12;
const MIN_MESSAGE = PRELUDE + 4;
/** Bedrock frames are small; anything this large is corruption, not data. */
const MAX_MESSAGE = 16 * 1024 * 1024;

const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf: Uint8Array, start = 0, end = buf.length, seed = 0): number {
  let c = ~seed >>> 0;
  for (let i = start; i < end; i++) c = (CRC_TABLE[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

// ---- encoding -------------------------------------------------------------------------------------

/** Encodes one message. String headers are type 7; booleans 0/1; numbers int32 (type 4). */
export function encodeEventStreamMessage(headers: Readonly<Record<string, string | boolean | number>>, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const parts: Buffer[] = [];
  let headersLen = 0;
  for (const name in headers) {
    const v = headers[name] as string | boolean | number;
    const n = Buffer.from(name, 'utf8');
    let h: Buffer;
    if (typeof v === 'string') {
      const b = Buffer.from(v, 'utf8');
      h = Buffer.allocUnsafe(1 + n.length + 1 + 2 + b.length);
      h[0] = n.length;
      n.copy(h, 1);
      h[1 + n.length] = 7;
      h.writeUInt16BE(b.length, 2 + n.length);
      b.copy(h, 4 + n.length);
    } else if (typeof v === 'boolean') {
      h = Buffer.allocUnsafe(1 + n.length + 1);
      h[0] = n.length;
      n.copy(h, 1);
      h[1 + n.length] = v ? 0 : 1;
    } else {
      h = Buffer.allocUnsafe(1 + n.length + 1 + 4);
      h[0] = n.length;
      n.copy(h, 1);
      h[1 + n.length] = 4;
      h.writeInt32BE(v, 2 + n.length);
    }
    parts.push(h);
    headersLen += h.length;
  }
  const total = PRELUDE + headersLen + body.length + 4;
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(headersLen, 4);
  out.writeUInt32BE(crc32(out, 0, 8), 8);
  let off = PRELUDE;
  for (const p of parts) {
    p.copy(out, off);
    off += p.length;
  }
  body.copy(out, off);
  off += body.length;
  out.writeUInt32BE(crc32(out, 0, off), off);
  return out;
}

// ---- decoding -------------------------------------------------------------------------------------

/** Incremental decoder: feed bytes as they arrive, get whole messages. */
export class EventStreamDecoder {
  private buf: Buffer | null = null;

  push(chunk: Buffer): EventStreamMessage[] {
    let buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    const out: EventStreamMessage[] = [];
    while (buf.length >= PRELUDE) {
      const total = buf.readUInt32BE(0);
      if (total < MIN_MESSAGE || total > MAX_MESSAGE) throw new EventStreamError(`event-stream message length ${total} is out of range`);
      if (crc32(buf, 0, 8) !== buf.readUInt32BE(8)) throw new EventStreamError('event-stream prelude checksum mismatch');
      if (buf.length < total) break;
      out.push(decodeMessage(buf.subarray(0, total)));
      buf = buf.subarray(total);
    }
    this.buf = buf.length === 0 ? null : Buffer.from(buf);
    return out;
  }

  /** Bytes of an unfinished message at the end of the stream, if any. */
  pending(): number {
    return this.buf?.length ?? 0;
  }
}

export function decodeMessage(msg: Buffer): EventStreamMessage {
  const total = msg.readUInt32BE(0);
  const headersLen = msg.readUInt32BE(4);
  if (PRELUDE + headersLen + 4 > total) throw new EventStreamError('event-stream headers overrun the message');
  if (crc32(msg, 0, total - 4) !== msg.readUInt32BE(total - 4)) throw new EventStreamError('event-stream message checksum mismatch');
  const headers: Record<string, HeaderValue> = {};
  let off = PRELUDE;
  const end = PRELUDE + headersLen;
  const need = (n: number): void => {
    if (off + n > end) throw new EventStreamError('event-stream header is truncated');
  };
  while (off < end) {
    need(1);
    const nameLen = msg[off] as number;
    off += 1;
    need(nameLen + 1);
    const name = msg.toString('utf8', off, off + nameLen);
    off += nameLen;
    const type = msg[off] as number;
    off += 1;
    switch (type) {
      case 0:
        headers[name] = true;
        break;
      case 1:
        headers[name] = false;
        break;
      case 2:
        need(1);
        headers[name] = msg.readInt8(off);
        off += 1;
        break;
      case 3:
        need(2);
        headers[name] = msg.readInt16BE(off);
        off += 2;
        break;
      case 4:
        need(4);
        headers[name] = msg.readInt32BE(off);
        off += 4;
        break;
      case 5:
        need(8);
        headers[name] = msg.readBigInt64BE(off);
        off += 8;
        break;
      case 6:
      case 7: {
        need(2);
        const len = msg.readUInt16BE(off);
        off += 2;
        need(len);
        headers[name] = type === 7 ? msg.toString('utf8', off, off + len) : Buffer.from(msg.subarray(off, off + len));
        off += len;
        break;
      }
      case 8:
        need(8);
        headers[name] = new Date(Number(msg.readBigInt64BE(off)));
        off += 8;
        break;
      case 9:
        need(16);
        headers[name] = Buffer.from(msg.subarray(off, off + 16));
        off += 16;
        break;
      default:
        throw new EventStreamError(`event-stream header "${name}" has unknown type ${type}`);
    }
  }
  return { headers, payload: msg.subarray(end, total - 4) };
}

/** A string header, or undefined. */
export function headerString(m: EventStreamMessage, name: string): string | undefined {
  const v = m.headers[name];
  return typeof v === 'string' ? v : undefined;
}
