/**
 * Decisions of the softphone page that need no browser: where the SIP WebSocket is, which domain
 * the user's address is in, and what SIP URI a typed number or username becomes. Pure functions.
 */

/** SIP over WebSocket's default port on the gateway (SIP_WS_LISTEN); WSS (SIP_WSS_LISTEN) is usually put behind 443 by the operator. */
export const DEFAULT_WS_PORT = 5066;

export interface PageLocation {
  protocol: string;
  hostname: string;
}

/**
 * The WebSocket URL when the user gives none: the page's own host, `ws:` on the gateway's WS port
 * (5066) for http pages. Browsers refuse ws: from an https page, so https pages get
 * wss://<host>/ on port 443 (the operator puts SIP_WSS_LISTEN, or a TLS proxy in front of
 * SIP_WS_LISTEN, there: README "Browser phone"), unless the override field says otherwise.
 */
export function defaultServer(loc: PageLocation): string {
  const host = loc.hostname.includes(':') ? `[${loc.hostname}]` : loc.hostname;
  return loc.protocol === 'https:' ? `wss://${host}/` : `ws://${host}:${DEFAULT_WS_PORT}/`;
}

/** The SIP domain when the user gives none: the page's host name. */
export function defaultDomain(loc: PageLocation): string {
  return loc.hostname.includes(':') ? `[${loc.hostname}]` : loc.hostname;
}

/** A ws: or wss: URL, or an explanation of what is wrong. */
export function checkServer(value: string): string | undefined {
  try {
    const u = new URL(value);
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') return 'The server address must start with ws:// or wss://';
    return undefined;
  } catch {
    return 'The server address is not a valid URL';
  }
}

/**
 * What the user typed, as a SIP URI: a phone number loses its spaces, dots, dashes and brackets
 * (a leading + stays); a username is kept as typed; a full sip: URI is used as it is.
 * Undefined when nothing usable is left.
 */
export function targetUri(typed: string, domain: string): string | undefined {
  const t = typed.trim();
  if (!t) return undefined;
  if (/^sips?:/i.test(t)) return t;
  const phone = t.replace(/[\s().-]/g, '');
  if (/^\+?[0-9*#]{1,32}$/.test(phone)) return `sip:${phone}@${domain}`;
  if (/^[A-Za-z0-9._~!$&'()*+,;=-]{1,64}$/.test(t)) return `sip:${t}@${domain}`;
  return undefined;
}
