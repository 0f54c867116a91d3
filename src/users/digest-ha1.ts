/**
 * Digest HA1 = H(username ":" realm ":" password), for MD5 (RFC 2617) and SHA-256 (RFC 8760).
 * The gateway stores only these: a slow password hash cannot serve SIP digest, and HA1 is what a
 * registrar needs to check a response without ever holding the password.
 */
import { createHash } from 'node:crypto';

export interface DigestHa1 {
  md5: string;
  sha256: string;
}

export function digestHa1(username: string, realm: string, password: string): DigestHa1 {
  const input = `${username}:${realm}:${password}`;
  return {
    md5: createHash('md5').update(input, 'utf8').digest('hex'),
    sha256: createHash('sha256').update(input, 'utf8').digest('hex'),
  };
}
