/**
 * The DTLS identity of the gateway's WebRTC legs: a self-signed ECDSA P-256 certificate and its
 * key, as PEM for node-datachannel's `certificatePemFile`/`keyPemFile` (which take PEM text too).
 *
 * Why the gateway brings its own instead of letting libdatachannel make one per peer connection:
 * a leg that offers to a browser answers that browser with a second peer connection
 * (webrtc-leg.ts explains the libdatachannel race this avoids), and the second must present the
 * certificate whose fingerprint the first one put in the offer. libdatachannel cannot export the
 * key it generated, so the gateway makes the pair.
 *
 * Written by hand (a few DER structures over node:crypto) because Node has no API that issues an
 * X.509 certificate and none of the installed packages does; the fields are the minimum a DTLS
 * peer needs: browsers and libdatachannel check only the fingerprint signalled in SDP (RFC 8122,
 * RFC 8827), never the issuer or the dates.
 *
 * One identity serves every leg of the process and is replaced after `CERTIFICATE_LIFETIME_MS`
 * (a leg keeps the one it started with).
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

export interface DtlsIdentity {
  readonly certificatePem: string;
  readonly keyPem: string;
  /** "sha-256 AB:CD:..." as SDP's a=fingerprint says it. */
  readonly fingerprint: string;
}

/** A new identity is made after this long; the certificate itself says twice that. */
export const CERTIFICATE_LIFETIME_MS = 24 * 3600 * 1000;

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';

function der(tag: number, body: Buffer): Buffer {
  const n = body.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else if (n < 0x100) length = Buffer.from([0x81, n]);
  else length = Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const sequence = (...parts: Buffer[]) => der(0x30, Buffer.concat(parts));

function objectId(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const value of rest) {
    const chunk = [value & 0x7f];
    for (let v = value >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}

/**
 * A non-negative INTEGER of the given big-endian bytes, in DER's one minimal form: leading zero
 * bytes dropped, one put back when the top bit is set (else it would read as negative). Parsers
 * refuse any other form ("illegal padding"): a random serial that began with a zero byte once made
 * libdatachannel refuse the certificate, and with it every WebRTC leg until the next rotation.
 */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const value = bytes.subarray(start);
  return der(0x02, value[0] & 0x80 ? Buffer.concat([Buffer.from([0]), value]) : value);
}

/** A random positive 64-bit serial (RFC 5280 §4.1.2.2), never starting with a zero byte. */
function randomSerial(): Buffer {
  const serial = randomBytes(8);
  serial[0] = (serial[0] & 0x7f) | 0x40;
  return serial;
}

/** UTCTime YYMMDDHHMMSSZ (years 1950-2049, RFC 5280 §4.1.2.5.1). */
function utcTime(at: Date): Buffer {
  const two = (n: number) => String(n).padStart(2, '0');
  const text = `${two(at.getUTCFullYear() % 100)}${two(at.getUTCMonth() + 1)}${two(at.getUTCDate())}${two(at.getUTCHours())}${two(at.getUTCMinutes())}${two(at.getUTCSeconds())}Z`;
  return der(0x17, Buffer.from(text, 'ascii'));
}

const name = (cn: string) => sequence(der(0x31, sequence(objectId(COMMON_NAME), der(0x0c, Buffer.from(cn, 'utf8')))));

function pem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The SDP fingerprint of a DER certificate (RFC 8122 §5: upper-case hex pairs joined by colons). */
export function sha256Fingerprint(certificateDer: Buffer): string {
  const hex = createHash('sha256').update(certificateDer).digest('hex').toUpperCase();
  return `sha-256 ${hex.match(/../g)!.join(':')}`;
}

/** A fresh self-signed identity, valid from a day ago (peers' clocks) to twice the rotation period; `serial` for tests. */
export function newDtlsIdentity(now = new Date(), serial: Buffer = randomSerial()): DtlsIdentity {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const algorithm = sequence(objectId(ECDSA_WITH_SHA256));
  const subject = name('pstn-gateway');
  const tbs = sequence(
    der(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    subject,
    sequence(utcTime(new Date(now.getTime() - 24 * 3600 * 1000)), utcTime(new Date(now.getTime() + 2 * CERTIFICATE_LIFETIME_MS))),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value
  const certificate = sequence(tbs, algorithm, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  return {
    certificatePem: pem('CERTIFICATE', certificate),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    fingerprint: sha256Fingerprint(certificate),
  };
}

let current: { identity: DtlsIdentity; madeAt: number } | undefined;

/** The identity new legs use now (made on first use, replaced after CERTIFICATE_LIFETIME_MS). */
export function dtlsIdentity(now = Date.now()): DtlsIdentity {
  if (!current || now - current.madeAt >= CERTIFICATE_LIFETIME_MS) current = { identity: newDtlsIdentity(new Date(now)), madeAt: now };
  return current.identity;
}
