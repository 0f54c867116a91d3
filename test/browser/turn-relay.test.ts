/**
 * TURN for restrictive networks, end to end: a gateway process whose TURN_URLS/TURN_SECRET name a
 * real Debian coturn (use-auth-secret), and a /phone page told to send audio through the relay
 * only (as on a network that blocks direct UDP). The page signs in (getting its TURN credentials
 * from the gateway), calls a number routed to an echoing SIPp trunk, and hears its own tone back,
 * with the call's selected ICE candidate pair a relay one.
 * RTP: the gateway 54900-54998 (shared with turn-credentials.test.ts, whose gateway makes no
 * call), coturn's relays 53800-53998, SIPp 53000-53396.
 */
import { newAccount, newRoute, newTrunk, newUser } from '../calls/support';
import { startGatewayProcess, type GatewayProcess } from '../security/gateway-process';
import { type Coturn, startCoturn } from '../phone/coturn';
import { launchBrowser, type Browser, dominantFrequency, until } from './browser';
import { PHONE_REMOTE_STREAM, PhonePage } from './phone-page';
import { freeTrunkPort, sippTrace, TRUNK_IP, trunkSipp } from './trunk';

jest.setTimeout(90_000);

const SECRET = 'turn-relay-browser-secret-0123456789';

describe('/phone through a TURN relay only', () => {
  let coturn: Coturn;
  let gw: GatewayProcess;
  let browser: Browser;

  beforeAll(async () => {
    coturn = await startCoturn(SECRET);
    gw = await startGatewayProcess({ rtpMin: 54900, rtpMax: 54998, env: { TURN_URLS: `turn:127.0.0.1:${coturn.port}?transport=udp`, TURN_SECRET: SECRET, CALL_RING_TIMEOUT_SECONDS: '20' } });
    browser = await launchBrowser(440);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
    coturn?.stop();
  });

  it('calls the echoing trunk with audio relayed by coturn, and hears its own tone', async () => {
    const calls = gw.asCallsGateway();
    const u = await newUser(calls, await newAccount(calls, '10.00'));
    const trunkPort = await freeTrunkPort();
    await newRoute(calls, '+12125550143', await newTrunk(calls, { port: trunkPort, host: TRUNK_IP, inboundAddresses: [`${TRUNK_IP}/32`] }));
    const trunk = trunkSipp({ kind: 'uas', port: trunkPort, holdMs: 10_000 });
    await trunk.ready;

    const phone = new PhonePage(browser.page, gw.httpPort);
    await phone.open();
    await phone.signIn(u.username, u.password, `ws://127.0.0.1:${gw.wsPort}/`, '127.0.0.1', true);
    await phone.waitForStatus(/^Ready: signed in as /);
    await phone.call('+12125550143');
    await phone.waitForStatus(/^In call$/);
    const heard = await until('the tone echoed through the relay', async () => {
      const h = await dominantFrequency(browser.page, PHONE_REMOTE_STREAM);
      return h && Math.abs(h.hz - 440) <= 15 ? h : undefined;
    });
    expect(heard.level).toBeGreaterThan(-90);
    const pair = (await browser.page.evaluate(`(async () => {
      const stats = await window.phoneDebug.peerConnection.getStats();
      let pair;
      stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
      if (!pair) stats.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
      const local = pair && stats.get(pair.localCandidateId);
      return local && { candidateType: local.candidateType, relayProtocol: local.relayProtocol, port: local.port };
    })()`)) as { candidateType: string; port: number } | undefined;
    expect(pair?.candidateType).toBe('relay');
    expect(pair!.port).toBeGreaterThanOrEqual(53800);
    expect(pair!.port).toBeLessThanOrEqual(53998);
    await browser.screenshot('phone-turn-relay-call');
    await phone.waitForStatus(/^Call ended/, 20_000);
    const run = await trunk.run;
    expect({ code: run.code, trace: run.code === 0 ? '' : sippTrace(run) }).toEqual({ code: 0, trace: '' });
    await gw.expectAlive();
  });
});
