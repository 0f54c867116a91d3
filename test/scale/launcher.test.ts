/** The cluster launcher's refusals (scripts/cluster-launcher.ts), which `npm run cluster` prints as they are. */
import { ClusterError, dispatcherList, parseHostPort, requireKamailio } from '../../scripts/cluster-launcher';

describe('the cluster launcher', () => {
  it('refuses to start without kamailio, naming the Debian package', () => {
    expect(() => requireKamailio('/nonexistent/bin', [])).toThrow(ClusterError);
    expect(() => requireKamailio('/nonexistent/bin', [])).toThrow(/apt-get install -y kamailio/);
    expect(requireKamailio()).toMatch(/\/kamailio$/);
  });

  it('names EDGE_SIP and the expected form for a bad edge address', () => {
    expect(parseHostPort('127.0.0.1:5060', 'EDGE_SIP')).toEqual({ host: '127.0.0.1', port: 5060 });
    expect(() => parseHostPort('localhost', 'EDGE_SIP')).toThrow(/^EDGE_SIP: expected an IPv4 address and port/);
    expect(() => parseHostPort('127.0.0.1:70000', 'EDGE_SIP')).toThrow(ClusterError);
  });

  it("writes one dispatcher line per node in the edge's set 1", () => {
    expect(dispatcherList([{ host: '127.0.0.2', port: 5060 }, { host: '127.0.0.3', port: 5070 }]).split('\n').filter((l) => !l.startsWith('#') && l)).toEqual(['1 sip:127.0.0.2:5060', '1 sip:127.0.0.3:5070']);
  });
});
