/** Calls in progress on this node (GET /v1/calls, every 2 s) with their RTP packet counts; hang-up by DELETE /v1/calls/:id. */
import { useState } from 'preact/hooks';
import { api } from '../api';
import { LoadError, Table, useLoad, when } from '../ui';

interface Call {
  id: string;
  callId: string;
  direction: string;
  state: string;
  trunk: string | null;
  caller: string | null;
  dialed: string | null;
  callee: string | null;
  startedAt: string;
  answeredAt: string | null;
  media: { fromCaller: { received: number; forwarded: number }; fromCallee: { received: number; forwarded: number } } | null;
}

export function CallsPage(_: { args: string[] }) {
  const calls = useLoad(() => api<{ data: Call[] }>('/v1/calls'), [], 2000);
  const [message, setMessage] = useState('');
  const hangUp = async (c: Call) => {
    try {
      await api(`/v1/calls/${encodeURIComponent(c.id)}`, { method: 'DELETE' });
      setMessage(`Hung up the call from ${c.caller ?? 'unknown'} to ${c.dialed ?? c.callee ?? 'unknown'}.`);
    } catch (e) {
      setMessage(`Not hung up: ${(e as Error).message}`);
    }
    calls.reload();
  };
  return (
    <>
      <LoadError error={calls.error} />
      <p role="status" aria-live="polite">
        {message}
      </p>
      <Table
        caption="Calls in progress"
        empty="no call in progress on this node."
        rows={calls.value?.data ?? []}
        columns={[
          { label: 'Direction', render: (c) => c.direction },
          { label: 'State', render: (c) => c.state },
          { label: 'Caller', render: (c) => c.caller ?? '—' },
          { label: 'Dialled', render: (c) => c.dialed ?? '—' },
          { label: 'Trunk', render: (c) => c.trunk ?? '—' },
          { label: 'Started', render: (c) => when(c.startedAt) },
          { label: 'Answered', render: (c) => when(c.answeredAt) },
          { label: 'RTP from caller', render: (c) => <span class="num" data-testid="rtp-caller">{c.media ? c.media.fromCaller.received : '—'}</span> },
          { label: 'RTP from callee', render: (c) => <span class="num">{c.media ? c.media.fromCallee.received : '—'}</span> },
          {
            label: 'Action',
            render: (c) => (
              <button type="button" class="danger" onClick={() => hangUp(c)} aria-label={`Hang up call ${c.caller ?? ''} to ${c.dialed ?? ''}`}>
                Hang up
              </button>
            ),
          },
        ]}
      />
    </>
  );
}
