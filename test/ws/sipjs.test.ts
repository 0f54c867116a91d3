/**
 * Interoperability with SIP.js (the other browser library), run in Node with `ws` as its WebSocket
 * in a child process (sipjs-agent.mjs: SIP.js is ES modules only), against a real gateway process:
 * its Registerer registers with digest over WebSocket (SIP.js, like JsSIP, drops a response whose
 * Via is not its own), the binding is marked `ws`, and after it unregisters and disconnects no
 * binding is left. Calls with WebRTC media are tested in browsers (test/browser).
 * RTP: the gateway relays on 50500–50599.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { newAccount, newUser, type User } from '../calls/support';
import { type GatewayProcess, startGatewayProcess } from '../security/gateway-process';
import { untilNone } from './ws-sip-client';

let gw: GatewayProcess;
let user: User;

beforeAll(async () => {
  gw = await startGatewayProcess({ rtpMin: 50500, rtpMax: 50599 });
  const account = await newAccount(gw.asCallsGateway());
  user = await newUser(gw.asCallsGateway(), account);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
});

async function bindings(): Promise<{ transport: string; contact: string }[]> {
  return (await gw.t.http().get(`/v1/users/${user.id}/registrations`).expect(200)).body.data;
}

it('SIP.js registers over WebSocket with digest, then unregisters and disconnects: no binding left', async () => {
  const agent = spawn(process.execPath, [join(__dirname, 'sipjs-agent.mjs'), String(gw.wsPort), user.username, user.password], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  agent.stdout.on('data', (d) => (out += d.toString()));
  agent.stderr.on('data', (d) => (out += d.toString()));
  const exited = new Promise<number | null>((ok) => agent.once('exit', (code) => ok(code)));
  for (let i = 0; i < 200 && !out.includes('registered') && !out.includes('failed'); i++) await new Promise((r) => setTimeout(r, 50));
  expect(out).toContain('registered');
  const list = await bindings();
  expect(list).toHaveLength(1);
  expect(list[0].transport).toBe('ws');
  expect(list[0].contact).toMatch(/\.invalid;transport=ws>/);

  agent.stdin.write('stop\n');
  expect(await exited).toBe(0);
  expect(out).toContain('stopped');
  expect(await untilNone(async () => (await bindings()).length)).toBe(0);
  await gw.expectAlive();
});
