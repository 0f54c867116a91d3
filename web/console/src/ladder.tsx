/**
 * A SIP ladder diagram (GET /v1/calls/{callId}/sip): one vertical line per address, one arrow per
 * message, oldest at the top, drawn as SVG. Each arrow is a button: it shows the full message.
 */
import { useState } from 'preact/hooks';

export interface SipMessage {
  at: string;
  direction: 'in' | 'out';
  leg: 'a' | 'b' | null;
  transport: string;
  src: string;
  dst: string;
  method: string | null;
  status: number | null;
  summary: string;
  text: string;
}

const COL = 220;
const ROW = 34;
const TOP = 56;

export function Ladder({ messages }: { messages: SipMessage[] }) {
  const [open, setOpen] = useState<number | undefined>(undefined);
  const hosts: string[] = [];
  for (const m of messages) for (const h of [m.src, m.dst]) if (!hosts.includes(h)) hosts.push(h);
  const x = (h: string) => 110 + hosts.indexOf(h) * COL;
  const width = 110 + (hosts.length - 1) * COL + 130;
  const height = TOP + messages.length * ROW + 20;
  const t0 = Date.parse(messages[0].at);
  // What the gateway received was sent to it: those addresses are the gateway's own.
  const gateway = new Set(messages.filter((m) => m.direction === 'in').map((m) => m.dst));
  return (
    <div class="ladder">
      <svg role="img" aria-label={`SIP ladder: ${messages.length} messages between ${hosts.join(', ')}`} width={width} height={height} viewBox={`0 0 ${width} ${height}`}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" class="head" />
          </marker>
        </defs>
        {hosts.map((h) => (
          <g>
            <text x={x(h)} y={12} text-anchor="middle" class="role">
              {gateway.has(h) ? 'gateway' : 'peer'}
            </text>
            <text x={x(h)} y={25} text-anchor="middle" class="host">
              {h}
            </text>
            <line x1={x(h)} y1={32} x2={x(h)} y2={height - 10} class="lifeline" />
          </g>
        ))}
        {messages.map((m, i) => {
          const y = TOP + i * ROW;
          const [a, b] = [x(m.src), x(m.dst)];
          const label = m.status !== null ? m.summary.replace(/^SIP\/2\.0\s+/, '') : (m.method ?? m.summary);
          return (
            <g class={`msg ${m.status !== null ? (m.status >= 300 ? 'fail' : 'resp') : 'req'}${open === i ? ' open' : ''}`} tabIndex={0} role="button" aria-label={`${m.summary} from ${m.src} to ${m.dst}`} onClick={() => setOpen(open === i ? undefined : i)} onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), setOpen(open === i ? undefined : i))}>
              {/* The whole row takes the click, not only the thin arrow. */}
              <rect x={0} y={y - ROW / 2} width={width} height={ROW} class="hit" />
              <text x={8} y={y + 4} class="time">
                +{((Date.parse(m.at) - t0) / 1000).toFixed(3)} s
              </text>
              <line x1={a} y1={y} x2={b} y2={y} marker-end="url(#arrow)" />
              <text x={(a + b) / 2} y={y - 5} text-anchor="middle">
                {label.length > 40 ? `${label.slice(0, 39)}…` : label}
              </text>
            </g>
          );
        })}
      </svg>
      {open !== undefined && (
        <section aria-label="SIP message">
          <h3>
            {messages[open].summary} <small>({new Date(messages[open].at).toISOString()}, {messages[open].transport})</small>
          </h3>
          <pre>{messages[open].text}</pre>
        </section>
      )}
    </div>
  );
}
