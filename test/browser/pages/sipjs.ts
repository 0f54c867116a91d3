/**
 * A minimal test page on SIP.js (the library the /phone page does not use), so the browser tests
 * show interoperability does not depend on our own page or on JsSIP. No UI beyond an audio
 * element: the tests call `window.sipjsTest` directly. Bundled by esbuild in the test
 * (test/browser/sipjs-page.ts) and served at the gateway's origin by Playwright's routing, so the
 * gateway itself never ships it.
 */
import { Invitation, Inviter, Registerer, RegistererState, Session, SessionState, UserAgent } from 'sip.js';
import type { SessionDescriptionHandler } from 'sip.js/lib/platform/web';

interface Settings {
  server: string;
  domain: string;
  username: string;
  password: string;
}

let ua: UserAgent | undefined;
let registerer: Registerer | undefined;
let session: Session | undefined;
let pending: Invitation | undefined;
let state = 'idle';
let remoteStream: MediaStream | undefined;
const audio = document.getElementById('remote') as HTMLAudioElement;
const log = document.getElementById('log') as HTMLElement;
const say = (s: string) => (log.textContent = s);

const media = { constraints: { audio: true, video: false } };
const sdhOptions = { peerConnectionConfiguration: { iceServers: [] as RTCIceServer[] } };

function peerConnection(): RTCPeerConnection | undefined {
  return (session?.sessionDescriptionHandler as SessionDescriptionHandler | undefined)?.peerConnection;
}

/** Plays the remote tracks once the session is up (SIP.js adds them to the SDH's remote stream). */
function follow(s: Session): void {
  session = s;
  s.stateChange.addListener((st) => {
    state = st;
    say(`session ${st}`);
    if (st === SessionState.Established) {
      const pc = peerConnection();
      const tracks = pc?.getReceivers().map((r) => r.track).filter((t) => t.kind === 'audio') ?? [];
      remoteStream = new MediaStream(tracks);
      audio.srcObject = remoteStream;
      void audio.play().catch(() => undefined);
    }
    if (st === SessionState.Terminated && session === s) session = undefined;
  });
}

async function register(s: Settings): Promise<void> {
  ua = new UserAgent({
    uri: UserAgent.makeURI(`sip:${s.username}@${s.domain}`),
    transportOptions: { server: s.server },
    authorizationUsername: s.username,
    authorizationPassword: s.password,
    sessionDescriptionHandlerFactoryOptions: sdhOptions,
    userAgentString: 'gateway-test (SIP.js)',
    logLevel: 'warn',
    delegate: {
      onInvite: (inv) => {
        pending = inv;
        state = 'incoming';
        say('incoming');
        inv.stateChange.addListener((st) => {
          if (st === SessionState.Terminated && pending === inv) pending = undefined;
        });
      },
    },
  });
  await ua.start();
  registerer = new Registerer(ua, { expires: 300 });
  registerer.stateChange.addListener((st) => say(`registration ${st}`));
  await registerer.register();
}

async function call(target: string, domain: string): Promise<void> {
  if (!ua) throw new Error('not registered');
  const uri = UserAgent.makeURI(target.startsWith('sip:') ? target : `sip:${target}@${domain}`);
  if (!uri) throw new Error(`bad target ${target}`);
  const inviter = new Inviter(ua, uri, { sessionDescriptionHandlerOptions: media });
  follow(inviter);
  await inviter.invite();
}

async function answer(): Promise<void> {
  if (!pending) throw new Error('no incoming call');
  const inv = pending;
  pending = undefined;
  follow(inv);
  await inv.accept({ sessionDescriptionHandlerOptions: media });
}

async function hangUp(): Promise<void> {
  const s = session;
  if (!s) return;
  if (s.state === SessionState.Established) await s.bye();
  else if (s instanceof Inviter) await s.cancel();
  else if (s instanceof Invitation) await s.reject();
}

declare global {
  interface Window {
    sipjsTest: unknown;
  }
}
window.sipjsTest = {
  register,
  call,
  answer,
  hangUp,
  stop: () => ua?.stop(),
  /** Closes the WebSocket abruptly, as a closed tab or a lost network would. */
  dropSocket: () => (ua?.transport as unknown as { ws?: WebSocket })?.ws?.close(),
  get registered() {
    return registerer?.state === RegistererState.Registered;
  },
  get state() {
    return state;
  },
  get incoming() {
    return pending !== undefined;
  },
  get peerConnection() {
    return peerConnection();
  },
  get remoteStream() {
    return remoteStream;
  },
};
say('ready');
