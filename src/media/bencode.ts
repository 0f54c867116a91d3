/**
 * Bencode (the BitTorrent encoding rtpengine's ng protocol speaks): integers, byte strings, lists
 * and dictionaries. Written here rather than taken from npm because the ng client needs only these
 * forty lines, and a decoder that refuses hostile input with an error (never a hang or a crash) is
 * easier to check when it is this small. Byte strings decode to UTF-8 text (ng carries SDP and names).
 */
export type Bencoded = number | string | Buffer | Bencoded[] | { [key: string]: Bencoded | undefined };

export function bencode(value: Bencoded): Buffer {
  const parts: Buffer[] = [];
  const put = (v: Bencoded): void => {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new TypeError(`bencode: ${v} is not an integer`);
      parts.push(Buffer.from(`i${v}e`));
    } else if (typeof v === 'string' || Buffer.isBuffer(v)) {
      const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      parts.push(Buffer.from(`${bytes.length}:`), bytes);
    } else if (Array.isArray(v)) {
      parts.push(Buffer.from('l'));
      v.forEach(put);
      parts.push(Buffer.from('e'));
    } else {
      parts.push(Buffer.from('d'));
      // Keys in byte order, as the format requires.
      for (const key of Object.keys(v).sort()) {
        const item = v[key];
        if (item === undefined) continue;
        put(key);
        put(item);
      }
      parts.push(Buffer.from('e'));
    }
  };
  put(value);
  return Buffer.concat(parts);
}

/** Decodes one value that must fill `data` from `offset` to the end; throws on anything malformed. */
export function bdecode(data: Buffer, offset = 0): Bencoded {
  let at = offset;
  let depth = 0;
  const fail = (why: string): never => {
    throw new Error(`bencode: ${why} at byte ${at}`);
  };
  const read = (): Bencoded => {
    if (at >= data.length) fail('unexpected end');
    const c = data[at];
    if (c === 0x69 /* i */) {
      const end = data.indexOf(0x65, at);
      if (end < 0) fail('unterminated integer');
      const text = data.toString('latin1', at + 1, end);
      if (!/^-?\d{1,15}$/.test(text)) fail('bad integer');
      at = end + 1;
      return Number(text);
    }
    if (c >= 0x30 && c <= 0x39) {
      const colon = data.indexOf(0x3a, at);
      if (colon < 0 || colon - at > 9) fail('bad string length');
      const text = data.toString('latin1', at, colon);
      if (!/^\d+$/.test(text)) fail('bad string length');
      const len = Number(text);
      if (colon + 1 + len > data.length) fail('string longer than the message');
      at = colon + 1 + len;
      return data.toString('utf8', colon + 1, at);
    }
    if (c === 0x6c /* l */ || c === 0x64 /* d */) {
      if (++depth > 32) fail('nested too deep');
      at++;
      const list: Bencoded[] = [];
      const dict: Record<string, Bencoded> = Object.create(null) as Record<string, Bencoded>;
      while (data[at] !== 0x65 /* e */) {
        if (c === 0x6c) list.push(read());
        else {
          const key = read();
          if (typeof key !== 'string') fail('dictionary key is not a string');
          dict[key as string] = read();
        }
      }
      at++;
      depth--;
      return c === 0x6c ? list : { ...dict };
    }
    return fail('unexpected byte');
  };
  const value = read();
  if (at !== data.length) fail('trailing bytes');
  return value;
}
