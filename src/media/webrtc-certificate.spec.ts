/**
 * The gateway's DTLS identity (webrtc-certificate.ts): a certificate X.509 parsers accept, signed by
 * its own key, whose fingerprint is what libdatachannel announces when given it. Ports: 52600–52699.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { PeerConnection } from 'node-datachannel';
import { CERTIFICATE_LIFETIME_MS, dtlsIdentity, newDtlsIdentity } from './webrtc-certificate';
import { gatheringComplete } from './webrtc-leg';

describe('DTLS identity', () => {
  it('is a self-signed P-256 certificate valid now, its fingerprint the SHA-256 of its DER', () => {
    const now = new Date();
    const id = newDtlsIdentity(now);
    const cert = new X509Certificate(id.certificatePem);
    expect(cert.subject).toBe('CN=pstn-gateway');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails).toMatchObject({ namedCurve: 'prime256v1' });
    expect(new Date(cert.validFrom).getTime()).toBeLessThan(now.getTime());
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(now.getTime() + CERTIFICATE_LIFETIME_MS);
    expect(id.fingerprint).toBe(`sha-256 ${cert.fingerprint256}`);
    // The key is the certificate's.
    expect(createPublicKey(createPrivateKey(id.keyPem)).export({ type: 'spki', format: 'der' })).toEqual(cert.publicKey.export({ type: 'spki', format: 'der' }));
  });

  it('is what libdatachannel presents when given it: its SDP carries our fingerprint', async () => {
    const id = newDtlsIdentity();
    const pc = new PeerConnection('cert', { iceServers: [], bindAddress: '127.0.0.1', portRangeBegin: 52600, portRangeEnd: 52699, certificatePemFile: id.certificatePem, keyPemFile: id.keyPem });
    try {
      pc.createDataChannel('probe');
      await gatheringComplete(pc, 3000);
      expect(/^a=fingerprint:(.*)$/m.exec(pc.localDescription()!.sdp)?.[1].trim()).toBe(id.fingerprint);
    } finally {
      pc.close();
    }
  });

  it('encodes every serial in the minimal DER form, so neither OpenSSL nor libdatachannel refuses it (a leading zero byte did)', () => {
    const serials = ['0005010203040506', '0000000000000080', '8505010203040506', '4505010203040506'];
    for (const hex of serials) {
      const id = newDtlsIdentity(new Date(), Buffer.from(hex, 'hex'));
      expect(BigInt(`0x${new X509Certificate(id.certificatePem).serialNumber}`)).toBe(BigInt(`0x${hex}`));
      const pc = new PeerConnection('serial', { iceServers: [], bindAddress: '127.0.0.1', portRangeBegin: 52600, portRangeEnd: 52699, certificatePemFile: id.certificatePem, keyPemFile: id.keyPem });
      pc.close();
    }
    // Default serials: 200 fresh identities all parse.
    for (let i = 0; i < 200; i++) expect(() => new X509Certificate(newDtlsIdentity().certificatePem)).not.toThrow();
  });

  it('is one per process, replaced once it is a rotation period old', () => {
    const t = Date.now();
    const first = dtlsIdentity(t);
    expect(dtlsIdentity(t + 1000)).toBe(first);
    const next = dtlsIdentity(t + CERTIFICATE_LIFETIME_MS);
    expect(next).not.toBe(first);
    expect(next.fingerprint).not.toBe(first.fingerprint);
  });
});
