import fc from 'fast-check';
import { bdecode, bencode, type Bencoded } from './bencode';

describe('bencode', () => {
  it('encodes an ng offer with sorted keys, byte lengths (not UTF-16 lengths) and lists', () => {
    expect(bencode({ sdp: 'v=0é', command: 'offer', replace: ['origin'], n: 3 }).toString()).toBe('d7:command5:offer1:ni3e7:replacel6:origine3:sdp5:v=0ée');
  });

  it('decodes what it encodes (strings, integers, lists, dictionaries)', () => {
    const value: fc.Arbitrary<Bencoded> = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, fc.integer(), fc.string(), fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.string(), tie('v'), { maxKeys: 4 })),
    })).v as fc.Arbitrary<Bencoded>;
    fc.assert(fc.property(value, (v) => expect(bdecode(bencode(v))).toEqual(v)));
  });

  it('refuses malformed and hostile input with an error, never a hang', () => {
    for (const bad of ['', 'i12', 'i1.5e', '5:abc', 'l', 'd3:key', 'di1ei2ee', 'x', '4:spam extra', '99999999999:a', 'l'.repeat(100) + 'e'.repeat(100)]) {
      expect(() => bdecode(Buffer.from(bad))).toThrow(/bencode/);
    }
  });

  it('decodes from an offset (after the ng cookie)', () => {
    expect(bdecode(Buffer.from('abc d6:result4:ponge'), 4)).toEqual({ result: 'pong' });
  });
});
