// A SIP.js user agent in Node for test/ws/sipjs.test.ts (SIP.js ships as ES modules only, which
// Jest's CommonJS runtime cannot load). Usage: node sipjs-agent.mjs <wsPort> <username> <password>.
// Registers, prints "registered", then on "stop" (stdin) unregisters, disconnects and exits 0.
import { Registerer, RegistererState, UserAgent } from 'sip.js';
import WebSocket from 'ws';

// SIP.js's Web transport uses the browser's global WebSocket; `ws` has the same API.
globalThis.WebSocket = WebSocket;
const [port, username, password] = process.argv.slice(2);
const fail = (why) => {
  console.log(`failed: ${why}`);
  process.exit(1);
};
setTimeout(() => fail('timeout'), 20_000).unref();

const ua = new UserAgent({
  uri: UserAgent.makeURI(`sip:${username}@127.0.0.1`),
  authorizationUsername: username,
  authorizationPassword: password,
  transportOptions: { server: `ws://127.0.0.1:${port}/` },
  logLevel: 'error',
  logBuiltinEnabled: false,
});
await ua.start();
const registerer = new Registerer(ua, { expires: 300 });
registerer.stateChange.addListener((s) => {
  if (s === RegistererState.Registered) console.log('registered');
});
await registerer.register({ requestDelegate: { onReject: (r) => fail(`REGISTER ${r.message.statusCode}`) } });
process.stdin.on('data', async (d) => {
  if (!String(d).includes('stop')) return;
  await registerer.unregister();
  await ua.stop();
  console.log('stopped');
  process.exit(0);
});
