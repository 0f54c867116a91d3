import { CDR_COLUMNS, CdrRow, cdrView } from './cdrs.repository';

const row: CdrRow = {
  id: 'c1', call_id: 'call', direction: 'outbound', account_id: 'a', user_id: null, trunk_id: 't', caller: '+15551230000', dialed: '2025550123',
  callee: '+12025550123', translated_to: null, started_at: new Date('2026-11-30T10:00:00Z'), ringing_at: null,
  answered_at: new Date('2026-11-30T10:00:02Z'), ended_at: new Date('2026-11-30T10:00:33Z'), duration_seconds: 31, billable_seconds: 36,
  disposition: 'answered', sip_code: 200, sip_reason: 'OK', hangup_by: 'caller', rate_prefix: '1202', rate_destination: 'US DC',
  rate_per_minute: '0.012000', connection_fee: '0.000000', first_increment: 6, next_increment: 6, cost: '0.007200', currency: 'USD',
  status: 'rated', failure_reason: null, reservation_id: 'r', rated_at: new Date('2026-11-30T10:00:34Z'), node_instance: 'gw1/ab12cd',
  max_seconds: 3600, trunk_channel: 'leg',
};

describe('cdrView', () => {
  it('maps every column of the view, timestamps as ISO-8601 and nulls kept, and nothing else', () => {
    expect(cdrView(row)).toEqual({
      id: 'c1', callId: 'call', direction: 'outbound', accountId: 'a', userId: null, trunkId: 't', caller: '+15551230000', dialed: '2025550123',
      callee: '+12025550123', translatedTo: null, startedAt: '2026-11-30T10:00:00.000Z', ringingAt: null, answeredAt: '2026-11-30T10:00:02.000Z',
      endedAt: '2026-11-30T10:00:33.000Z', durationSeconds: 31, billableSeconds: 36, disposition: 'answered', sipCode: 200, sipReason: 'OK',
      hangupBy: 'caller', ratePrefix: '1202', rateDestination: 'US DC', ratePerMinute: '0.012000', cost: '0.007200', currency: 'USD',
      status: 'rated', failureReason: null, ratedAt: '2026-11-30T10:00:34.000Z',
    });
  });
  it('lists the CSV columns in the export order', () => {
    expect(CDR_COLUMNS).toEqual(Object.keys(cdrView(row)));
    expect(CDR_COLUMNS.slice(0, 3)).toEqual(['id', 'callId', 'direction']);
    expect(CDR_COLUMNS.at(-1)).toBe('ratedAt');
  });
});
