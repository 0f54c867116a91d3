import fc from 'fast-check';
import { printableText, spreadsheetSafe } from './inert-text';

describe('spreadsheetSafe', () => {
  it('prefixes every formula start, also after leading whitespace (OWASP CSV injection)', () => {
    for (const cell of ['=1+1', '+A1', '-2+3', '@SUM(A1)', '\t=1', '\r=1', ' =HYPERLINK("http://x")', '\u00a0@x', "=cmd|' /C calc'!A0", '+1 (212)']) {
      expect(spreadsheetSafe(cell)).toBe(`'${cell}`);
    }
  });

  it('leaves plain numbers (E.164, signed amounts) and ordinary text exactly as they are', () => {
    for (const cell of ['+13105551234', '-0.010000', '12.500000', '0', '486', 'Busy Here', '2026-11-30T10:00:00.000Z', 'alice', '']) {
      expect(spreadsheetSafe(cell)).toBe(cell);
    }
  });

  it('never returns a cell that starts like a formula unless it is a plain number', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const out = spreadsheetSafe(s);
        expect(/^\s*[=+\-@\t\r]/.test(out) && !/^[+-]?\d+(\.\d+)?$/.test(out)).toBe(false);
        expect(out === s || out === `'${s}`).toBe(true);
      }),
    );
  });
});

describe('printableText', () => {
  it('removes controls and invisible format characters, turns line breaks into spaces, and bounds the length', () => {
    expect(printableText('=HYPERLINK("x")\n\u0007', 64)).toBe('=HYPERLINK("x")');
    expect(printableText('Busy\r\nHere', 64)).toBe('Busy Here');
    expect(printableText('abc\u202edef\u200b', 64)).toBe('abcdef');
    expect(printableText('x'.repeat(200), 64)).toBe('x'.repeat(64));
    expect(printableText('\u0000\u0001', 64)).toBeNull();
    expect(printableText(undefined, 64)).toBeNull();
    expect(printableText('+13105551234', 64)).toBe('+13105551234');
  });

  it('always gives printable text of at most maxChars code points', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 1, max: 128 }), (s, max) => {
        const out = printableText(s, max);
        if (out === null) return;
        expect(Array.from(out).length).toBeLessThanOrEqual(max);
        expect(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u.test(out)).toBe(false);
      }),
    );
  });
});
