import { csrfRefusal, sameOrigin } from './console-sessions';

const req = (headers: Record<string, string>) => ({ headers }) as never;

describe('console CSRF rule', () => {
  it('wants the X-Console-Request header on a change', () => {
    expect(csrfRefusal(req({ host: 'gw.example:3000' }))).toMatch(/must carry the x-console-request: 1 header/);
    expect(csrfRefusal(req({ host: 'gw.example:3000', 'x-console-request': 'yes' }))).toMatch(/x-console-request: 1/);
    expect(csrfRefusal(req({ host: 'gw.example:3000', 'x-console-request': '1' }))).toBeUndefined();
  });

  it('refuses an Origin whose host is not the Host the request was sent to', () => {
    const base = { host: 'gw.example:3000', 'x-console-request': '1' };
    expect(csrfRefusal(req({ ...base, origin: 'https://gw.example:3000' }))).toBeUndefined();
    expect(csrfRefusal(req({ ...base, origin: 'https://GW.example:3000' }))).toBeUndefined();
    expect(csrfRefusal(req({ ...base, origin: 'https://gw.example:3001' }))).toMatch(/cross-origin request refused/);
    expect(csrfRefusal(req({ ...base, origin: 'https://gw.example.evil.test:3000' }))).toMatch(/cross-origin/);
    expect(csrfRefusal(req({ ...base, origin: 'null' }))).toMatch(/cross-origin/);
  });

  it('sameOrigin is false without an Origin (bull-board changes need one)', () => {
    expect(sameOrigin(req({ host: 'gw.example' }))).toBe(false);
    expect(sameOrigin(req({ host: 'gw.example', origin: 'http://gw.example' }))).toBe(true);
  });
});
