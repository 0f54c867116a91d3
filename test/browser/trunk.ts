/**
 * A SIP trunk for the browser tests: SIPp on TRUNK_IP (not 127.0.0.1, so the gateway tells the
 * trunk from the browsers by source address) running test/calls/scenarios' baresip-trunk-*.xml
 * with `-rtp_echo`: whatever RTP reaches its media port goes back, so a browser hears its own tone.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/net';
import { type PeerRun, runPeer } from '../support/sip-peers';

export const TRUNK_IP = '127.0.0.2';
/**
 * test/calls/scenarios' trunk scenario, its SDP also offering or accepting RFC 4733
 * telephone-event, as a trunk that takes keypad tones does (the gateway offers a browser
 * telephone-event only when the trunk has it). Answering, it takes the payload number the
 * gateway offered; offering, it uses 101.
 */
function scenario(name: string): string {
  let xml = readFileSync(join(__dirname, '..', 'calls', 'scenarios', name), 'utf8');
  const answering = xml.includes('<recv request="INVITE"');
  const pt = answering ? '[$te_pt]' : '101';
  if (answering) {
    const from = '<ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="caller" />';
    if (!xml.includes(from)) throw new Error(`${name}: no INVITE action to read the offered telephone-event from`);
    xml = xml
      .replace(from, `${from}\n      <ereg regexp="a=rtpmap:([0-9]+) telephone-event/8000" search_in="body" check_it="true" assign_to="te_line,te_pt" />`)
      .replace(/(<recv request="INVITE"[\s\S]*?<\/recv>)/, '$1\n  <Reference variables="te_line" />');
  }
  const withEvents = xml.replace(/m=audio \[media_port\] RTP\/AVP ([0-9 ]+)\n(\s*)/g, (_, pts: string, indent: string) => `m=audio [media_port] RTP/AVP ${pts.trim()} ${pt}\n${indent}a=rtpmap:${pt} telephone-event/8000\n${indent}a=fmtp:${pt} 0-16\n${indent}`);
  if (withEvents === xml) throw new Error(`${name}: no m=audio line to add telephone-event to`);
  const file = join(mkdtempSync(join(tmpdir(), 'gw-browser-scn-')), name);
  writeFileSync(file, withEvents);
  return file;
}

function udpTaken(address: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createSocket('udp4');
    s.once('error', () => ok(true));
    s.bind(port, address, () => s.close(() => ok(false)));
  });
}

/** An even port with the three after it free (SIPp's -rtp_echo binds audio and video pairs), in 53000-53396 (the trunks' part of the browser tests' range). */
async function freeMediaPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 53000 + 4 * Math.floor(Math.random() * 100);
    const taken = await Promise.all([0, 1, 2, 3].map((d) => udpTaken(TRUNK_IP, p + d)));
    if (!taken.some(Boolean)) return p;
  }
  throw new Error(`no free media port on ${TRUNK_IP}`);
}

export async function freeTrunkPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freePort();
    if (!(await udpTaken(TRUNK_IP, p))) return p;
  }
  throw new Error(`no free UDP port on ${TRUNK_IP}`);
}

export interface TrunkRun {
  run: Promise<PeerRun>;
  /** Resolves once SIPp's SIP port is bound. */
  ready: Promise<void>;
}

/**
 * `uas`: answers one INVITE on `port`, keeps the call `holdMs`, then sends BYE.
 * `uac`: calls `service` (a DID) at `target`, keeps the call `holdMs` once answered, then BYE.
 */
export function trunkSipp(o: { kind: 'uas' | 'uac'; port: number; target?: string; service?: string; caller?: string; holdMs: number }): TrunkRun {
  let started!: () => void;
  const ready = new Promise<void>((r) => (started = r));
  const run = (async () => {
    const mediaPort = await freeMediaPort();
    const args = [
      ...(o.target ? [o.target] : []),
      '-sf', scenario(o.kind === 'uas' ? 'baresip-trunk-uas.xml' : 'baresip-trunk-uac.xml'),
      '-i', TRUNK_IP,
      '-p', String(o.port),
      '-mi', TRUNK_IP,
      '-mp', String(mediaPort),
      '-rtp_echo',
      '-d', String(o.holdMs),
      '-m', '1',
      '-timeout', '40s',
      '-timeout_error',
      '-nostdin',
      '-trace_msg',
      '-trace_err',
    ];
    if (o.service) args.push('-s', o.service);
    if (o.caller) args.push('-set', 'caller', o.caller);
    const done = runPeer('sipp', args, 55_000);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !(await udpTaken(TRUNK_IP, o.port))) await new Promise((r) => setTimeout(r, 20));
    started();
    return done;
  })();
  return { run, ready };
}

/** SIPp's message trace and errors, for a failure message. */
export function sippTrace(run: PeerRun): string {
  const files = readdirSync(run.dir).filter((f) => f.endsWith('_messages.log') || f.endsWith('_errors.log'));
  return [...files.map((f) => `--- ${f} ---\n${readFileSync(join(run.dir, f), 'utf8').slice(-6000)}`), `--- stderr ---\n${run.stderr.slice(-2000)}`].join('\n');
}
