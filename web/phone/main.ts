/**
 * The browser softphone served at /phone: sign in with the SIP username and password, register
 * over SIP over WebSocket, call a number or a username, answer, hang up, mute, send DTMF (RFC 4733
 * telephone-events through the browser's RTCDTMFSender), and show the call's state.
 *
 * SIP is JsSIP's (web/phone/README.md says why JsSIP); this file only ties it to the page. ICE
 * servers: none unless the gateway hands TURN servers to this user (POST /phone/turn-credentials),
 * since waiting on an unreachable STUN server delays every call by 10-40 s.
 *
 * Bundled by web/build.mjs (esbuild) into dist/web/phone/app.js, with no request to any other site.
 */
import './style.css';
import JsSIP from 'jssip';
import type { RTCSession, RTCSessionEventMap } from 'jssip/lib/RTCSession';
import type { IncomingRTCSessionEvent, OutgoingRTCSessionEvent } from 'jssip/lib/UA';
import { checkServer, defaultDomain, defaultServer, targetUri } from './settings';

type UA = InstanceType<typeof JsSIP.UA>;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  status: $('status'),
  login: $<HTMLFormElement>('login'),
  username: $<HTMLInputElement>('username'),
  password: $<HTMLInputElement>('password'),
  server: $<HTMLInputElement>('server'),
  domain: $<HTMLInputElement>('domain'),
  relay: $<HTMLInputElement>('relay'),
  signin: $<HTMLButtonElement>('signin'),
  phone: $('phone'),
  identity: $('identity'),
  dial: $<HTMLFormElement>('dial'),
  target: $<HTMLInputElement>('target'),
  call: $<HTMLButtonElement>('call'),
  incoming: $('incoming'),
  caller: $('caller'),
  answer: $<HTMLButtonElement>('answer'),
  decline: $<HTMLButtonElement>('decline'),
  inCall: $('in-call'),
  callState: $('call-state'),
  hangup: $<HTMLButtonElement>('hangup'),
  mute: $<HTMLButtonElement>('mute'),
  keys: document.querySelector('#keypad .keys') as HTMLElement,
  signout: $<HTMLButtonElement>('signout'),
  remote: $<HTMLAudioElement>('remote'),
};

const audioOnly = { audio: true, video: false };
let ua: UA | undefined;
let session: RTCSession | undefined;
let iceServers: RTCIceServer[] = [];
/** 'relay' when the user asked for TURN only and the gateway gave a TURN server. */
let iceTransportPolicy: RTCIceTransportPolicy = 'all';
let domain = '';
let remoteStream: MediaStream | undefined;

function say(text: string, error = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', error);
}

/** Defaults from the page's own address, overridable by ?server=&domain= and by the fields. */
function prefill(): void {
  const q = new URLSearchParams(location.search);
  ui.server.placeholder = defaultServer(location);
  ui.domain.placeholder = defaultDomain(location);
  ui.server.value = q.get('server') ?? '';
  ui.domain.value = q.get('domain') ?? '';
  if (q.get('username')) ui.username.value = q.get('username')!;
  ui.relay.checked = q.get('relay') === '1';
}

/** The gateway's TURN servers for this user, or none; a failure here must not stop the phone. */
async function fetchIceServers(username: string, password: string): Promise<RTCIceServer[] | 'refused'> {
  try {
    const r = await fetch('/phone/turn-credentials', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password }) });
    if (r.status === 401 || r.status === 403 || r.status === 429) return 'refused';
    if (!r.ok) return [];
    return ((await r.json()) as { iceServers: RTCIceServer[] }).iceServers;
  } catch {
    return [];
  }
}

async function signIn(e: SubmitEvent): Promise<void> {
  e.preventDefault();
  const username = ui.username.value.trim();
  const password = ui.password.value;
  const server = ui.server.value.trim() || defaultServer(location);
  domain = ui.domain.value.trim() || defaultDomain(location);
  const bad = checkServer(server);
  if (bad) return say(bad, true);
  ui.signin.disabled = true;
  say('Signing in…');
  const ice = await fetchIceServers(username, password);
  if (ice === 'refused') {
    ui.signin.disabled = false;
    return say('Sign-in failed: wrong username or password (or too many attempts).', true);
  }
  iceServers = ice;
  const hasTurn = ice.some((s) => [s.urls].flat().some((u) => /^turns?:/.test(u)));
  iceTransportPolicy = ui.relay.checked && hasTurn ? 'relay' : 'all';
  if (ui.relay.checked && !hasTurn) say('This gateway has no TURN relay; audio goes directly. Signing in…');
  ua?.stop();
  ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(server)],
    uri: `sip:${username}@${domain}`,
    password,
    register: true,
    register_expires: 300,
    session_timers: true,
    user_agent: 'gateway-phone (JsSIP)',
  });
  ua.on('connecting', () => say('Connecting to the server…'));
  ua.on('disconnected', () => {
    // JsSIP keeps retrying; the user may correct the server address meanwhile.
    ui.signin.disabled = false;
    say('Cannot reach the server; retrying… (check Server settings)', true);
  });
  ua.on('registered', () => {
    ui.login.hidden = true;
    ui.phone.hidden = false;
    ui.identity.textContent = `Signed in as ${username}`;
    ui.signin.disabled = false;
    say(`Ready: signed in as ${username}`);
    ui.target.focus();
  });
  ua.on('registrationFailed', (ev: { cause?: string }) => {
    ui.signin.disabled = false;
    say(`Sign-in failed: ${ev.cause ?? 'no answer'}`, true);
  });
  ua.on('unregistered', () => say('Signed out'));
  ua.on('newRTCSession', (ev: IncomingRTCSessionEvent | OutgoingRTCSessionEvent) => onSession(ev));
  ua.start();
}

function signOut(): void {
  session?.terminate();
  ua?.stop();
  ua = undefined;
  ui.phone.hidden = true;
  ui.login.hidden = false;
  ui.password.value = '';
  say('Signed out');
}

function showCall(state: string): void {
  ui.callState.textContent = state;
  say(state);
}

/** Plays what the other side sends; keeps the stream reachable for whoever inspects the page. */
function attachPeerConnection(pc: RTCPeerConnection): void {
  pc.addEventListener('track', (t) => {
    remoteStream = t.streams[0] ?? new MediaStream([t.track]);
    ui.remote.srcObject = remoteStream;
    void ui.remote.play().catch(() => undefined);
  });
}

function onSession(ev: IncomingRTCSessionEvent | OutgoingRTCSessionEvent): void {
  const s = ev.session;
  if (session && ev.originator === 'remote') {
    // One call at a time: a second caller hears busy.
    s.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
    return;
  }
  session = s;
  setMuted(false);
  if (s.connection) attachPeerConnection(s.connection);
  s.on('peerconnection', (p: Parameters<RTCSessionEventMap['peerconnection']>[0]) => attachPeerConnection(p.peerconnection));
  const ended = (what: string) => () => {
    if (session !== s) return;
    session = undefined;
    ui.inCall.hidden = true;
    ui.incoming.hidden = true;
    ui.dial.hidden = false;
    say(what);
    ui.target.focus();
  };
  s.on('progress', () => showCall('Ringing…'));
  s.on('accepted', () => showCall('Connecting…'));
  s.on('confirmed', () => showCall('In call'));
  s.on('ended', (e: { cause?: string }) => ended(`Call ended${e.cause && e.cause !== 'Terminated' ? ` (${e.cause})` : ''}`)());
  s.on('failed', (e: { cause?: string }) => ended(`Call failed: ${e.cause ?? 'unknown reason'}`)());

  if (ev.originator === 'remote') {
    const who = s.remote_identity.display_name || s.remote_identity.uri.user || 'unknown caller';
    ui.caller.textContent = `From ${who}`;
    ui.incoming.hidden = false;
    ui.dial.hidden = true;
    say(`Incoming call from ${who}`);
    ui.answer.focus();
  } else {
    ui.dial.hidden = true;
    ui.inCall.hidden = false;
    showCall('Calling…');
    ui.hangup.focus();
  }
}

function placeCall(e: SubmitEvent): void {
  e.preventDefault();
  if (!ua || session) return;
  const uri = targetUri(ui.target.value, domain);
  if (!uri) return say('Enter a phone number (digits, optional +) or a username.', true);
  ua.call(uri, { mediaConstraints: audioOnly, pcConfig: { iceServers, iceTransportPolicy }, rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false } });
}

function answer(): void {
  if (!session) return;
  ui.incoming.hidden = true;
  ui.inCall.hidden = false;
  showCall('Connecting…');
  session.answer({ mediaConstraints: audioOnly, pcConfig: { iceServers, iceTransportPolicy } });
  ui.hangup.focus();
}

function setMuted(muted: boolean): void {
  ui.mute.setAttribute('aria-pressed', String(muted));
  ui.mute.textContent = muted ? 'Unmute' : 'Mute';
}

function toggleMute(): void {
  if (!session) return;
  const muted = session.isMuted().audio ?? false;
  if (muted) session.unmute({ audio: true });
  else session.mute({ audio: true });
  setMuted(!muted);
  say(muted ? 'Microphone on' : 'Microphone muted');
}

/** RFC 4733 events in the RTP stream (RTCDTMFSender), which trunks understand; not SIP INFO. */
function sendTone(key: string): void {
  if (!session?.isEstablished()) return;
  try {
    session.sendDTMF(key, { transportType: JsSIP.C.DTMF_TRANSPORT.RFC2833, duration: 160, interToneGap: 70 });
    say(`Sent ${key}`);
  } catch {
    // The far end did not accept telephone-event: the browser cannot send tones on this call.
    say('Keypad tones are not available on this call', true);
  }
}

function buildKeypad(): void {
  for (const key of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#']) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = key;
    b.setAttribute('aria-label', key === '*' ? 'star' : key === '#' ? 'pound' : key);
    b.addEventListener('click', () => sendTone(key));
    ui.keys.append(b);
  }
  // Typing digits while in a call sends them too (keyboard use without tabbing to the pad).
  ui.inCall.addEventListener('keydown', (e) => {
    if (/^[0-9*#]$/.test(e.key) && !(e.target instanceof HTMLInputElement)) sendTone(e.key);
  });
}

/** For tests and support: the live call's peer connection and the remote audio. Holds no secrets. */
declare global {
  interface Window {
    phoneDebug: { readonly session?: RTCSession; readonly peerConnection?: RTCPeerConnection; readonly remoteStream?: MediaStream; readonly registered: boolean };
  }
}
window.phoneDebug = {
  get session() {
    return session;
  },
  get peerConnection() {
    return session?.connection;
  },
  get remoteStream() {
    return remoteStream;
  },
  get registered() {
    return ua?.isRegistered() ?? false;
  },
};

prefill();
buildKeypad();
ui.login.addEventListener('submit', (e) => void signIn(e));
ui.dial.addEventListener('submit', placeCall);
ui.answer.addEventListener('click', answer);
ui.decline.addEventListener('click', () => session?.terminate({ status_code: 486, reason_phrase: 'Busy Here' }));
ui.hangup.addEventListener('click', () => session?.terminate());
ui.mute.addEventListener('click', toggleMute);
ui.signout.addEventListener('click', signOut);
