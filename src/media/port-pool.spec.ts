import { PortPool, type PortPair } from './port-pool';

// Real sockets on 127.0.0.1; the range is this spec's own.
describe('PortPool', () => {
  it('hands out pairs in random order, not in sequence', async () => {
    const pool = new PortPool({ portMin: 26800, portMax: 26899, bindAddress: '127.0.0.1' });
    const pairs: PortPair[] = [];
    for (let i = 0; i < 20; i++) pairs.push(await pool.acquire());
    const ports = pairs.map((p) => p.rtpPort);
    expect(new Set(ports).size).toBe(20);
    expect(ports.every((p) => p % 2 === 0 && p >= 26800 && p <= 26898)).toBe(true);
    // In order would be 26800, 26802, ...: the chance that a random draw of 20 of 50 is sorted is 1/20!.
    expect(ports).not.toEqual([...ports].sort((a, b) => a - b));
    await Promise.all(pairs.map((p) => pool.release(p)));
  });

  it('keeps a released pair out of use while cooled pairs are free, and takes it when nothing else is left', async () => {
    const pool = new PortPool({ portMin: 26900, portMax: 26907, bindAddress: '127.0.0.1', coolDownMs: 60_000 });
    const first = await pool.acquire();
    await pool.release(first);
    const next: PortPair[] = [];
    for (let i = 0; i < 3; i++) next.push(await pool.acquire());
    expect(next.map((p) => p.rtpPort)).not.toContain(first.rtpPort);
    const last = await pool.acquire(); // only the cooling one is left
    expect(last.rtpPort).toBe(first.rtpPort);
    await expect(pool.acquire()).rejects.toThrow('no free RTP port pair');
    await Promise.all([...next, last].map((p) => pool.release(p)));
    expect(pool.available).toBe(4);
  });
});
