/**
 * The /phone page's pure decisions (web/phone/settings.ts), without a browser: the default server
 * and domain from the page's address, and what a typed number or username is dialled as.
 */
import fc from 'fast-check';
import { checkServer, defaultDomain, defaultServer, targetUri } from '../../web/phone/settings';

describe('/phone settings', () => {
  it('derives ws:// on port 5066 for an http page and wss:// on 443 for an https page, IPv6 in brackets', () => {
    expect(defaultServer({ protocol: 'http:', hostname: '127.0.0.1' })).toBe('ws://127.0.0.1:5066/');
    expect(defaultServer({ protocol: 'https:', hostname: 'phone.example.com' })).toBe('wss://phone.example.com/');
    expect(defaultServer({ protocol: 'http:', hostname: '::1' })).toBe('ws://[::1]:5066/');
    expect(defaultDomain({ protocol: 'https:', hostname: 'phone.example.com' })).toBe('phone.example.com');
  });

  it('accepts only ws: and wss: server addresses', () => {
    expect(checkServer('wss://gw.example/')).toBeUndefined();
    expect(checkServer('ws://127.0.0.1:5066/')).toBeUndefined();
    expect(checkServer('http://gw.example/')).toMatch(/ws:\/\/ or wss:\/\//);
    expect(checkServer('not a url')).toMatch(/not a valid URL/);
  });

  it('dials numbers without their punctuation, usernames as typed, SIP URIs as they are', () => {
    expect(targetUri(' +1 (212) 555-0100 ', 'gw.example')).toBe('sip:+12125550100@gw.example');
    expect(targetUri('0044.20.7946.0000', 'gw.example')).toBe('sip:00442079460000@gw.example');
    expect(targetUri('alice.smith', 'gw.example')).toBe('sip:alice.smith@gw.example');
    expect(targetUri('sip:bob@elsewhere.example', 'gw.example')).toBe('sip:bob@elsewhere.example');
    expect(targetUri('   ', 'gw.example')).toBeUndefined();
    expect(targetUri('bob@evil.example', 'gw.example')).toBeUndefined();
    expect(targetUri('a b', 'gw.example')).toBeUndefined();
  });

  it('never lets typed text add a host, header or parameter to the URI', () => {
    fc.assert(
      fc.property(fc.string(), (typed) => {
        const uri = targetUri(typed, 'gw.example');
        if (uri === undefined || /^sips?:/i.test(typed.trim())) return;
        expect(uri.endsWith('@gw.example')).toBe(true);
        expect(uri.slice(4, -'@gw.example'.length)).not.toMatch(/[@?<>\s"]/);
      }),
    );
  });
});
