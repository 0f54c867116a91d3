/**
 * CSV injection through call records: what a caller dials (the Request-URI user part) and what a
 * far end writes as its reason phrase reach GET /v1/cdrs/export. A real gateway process takes a
 * user's INVITE to `=HYPERLINK("http://x")` (percent-encoded, with control characters) and a call
 * that a SIPp trunk refuses with the reason `=cmd|' /C calc'!A0`; the export, parsed with
 * csv-parse, must hold no cell a spreadsheet would evaluate, while the E.164 numbers of the same
 * calls stay exactly as they are. The stored text is printable and bounded.
 */
import { parse } from 'csv-parse/sync';
import { freePort } from '../support/net';
import { newAccount, newDestination, newDid, newRoute, newTrunk, newUser, disableTrunks, scenarioWith, sippClient, sippServer, expectSuccess, waitForCdrs, type Cdr } from '../calls/support';
import { GatewayProcess, startGatewayProcess } from './gateway-process';

/** What Excel, LibreOffice and Google Sheets evaluate (OWASP CSV injection), and the plain numbers that are safe. */
const FORMULA_START = /^\s*[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?\d+(\.\d+)?$/;

describe('CSV export of CDRs written by hostile peers', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ rtpMin: 48000, rtpMax: 48049 });
  }, 60_000);
  afterAll(() => gw?.stop(), 20_000);

  it('neutralises formulas from the Request-URI and the reason phrase, keeps E.164 numbers, stores printable bounded text', async () => {
    const g = gw.asCallsGateway();
    const accountId = await newAccount(g, '10.000000');
    const user = await newUser(g, accountId);
    const did = await newDid(g, user.id);

    // 1. A user dials a formula (percent-encoded, with a line feed and a BEL inside it).
    const formula = '=HYPERLINK("http://x")';
    const dialledFormula = '%3DHYPERLINK(%22http%3A//x%22)%0A%07';
    const refused = sippClient(g, { scenario: scenarioWith('uac-final.xml', { FINAL: '484' }), dialled: dialledFormula, from: user.username, user, rtp: 48150 });
    await expectSuccess(refused, 'user dialling a formula, expecting 484');

    // 2. A very long user part: stored cut to 64 characters.
    const long = `-${'9a'.repeat(150)}`;
    const tooLong = sippClient(g, { scenario: scenarioWith('uac-final.xml', { FINAL: '484' }), dialled: long, from: user.username, user, rtp: 48152 });
    await expectSuccess(tooLong, 'user dialling 301 characters, expecting 484');

    // 3. A real number; the trunk refuses it with a formula as its reason phrase.
    const reason = "=cmd|' /C calc'!A0";
    const trunkPort = await freePort();
    const trunkId = await newTrunk(g, { port: trunkPort });
    const dest = newDestination();
    await newRoute(g, dest, trunkId);
    try {
      const trunk = await sippServer({ scenario: scenarioWith('uas-reject.xml', { STATUS: `486 ${reason}` }), port: trunkPort });
      const busy = sippClient(g, { scenario: scenarioWith('uac-final.xml', { FINAL: '486' }), dialled: dest, from: user.username, user, rtp: 48154 });
      await expectSuccess(busy, 'user phone expecting 486');
      await expectSuccess(trunk, 'trunk answering 486 with a formula as reason');
    } finally {
      await disableTrunks(g, [trunkId]);
    }

    // The stored text (JSON API): printable, bounded, otherwise as sent.
    const cdrs: Cdr[] = await waitForCdrs(g, { accountId }, 3);
    expect(cdrs).toHaveLength(3);
    const [formulaCdr, longCdr, busyCdr] = cdrs;
    expect(formulaCdr.dialed).toBe(formula);
    expect(longCdr.dialed).toBe(long.slice(0, 64));
    expect(busyCdr).toMatchObject({ dialed: dest, caller: did, callee: dest, sipCode: 486, sipReason: reason });

    // The export, cell by cell.
    const res = await gw.t.http().get(`/v1/cdrs/export?format=csv&accountId=${accountId}`).buffer(true).parse((r, done) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (text += d));
      r.on('end', () => done(null, text));
    }).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const rows = parse(res.body as string, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(3);
    const live = rows.flatMap((row) => Object.entries(row).filter(([, cell]) => FORMULA_START.test(cell) && !PLAIN_NUMBER.test(cell)).map(([col, cell]) => `${row.id}.${col}=${JSON.stringify(cell)}`));
    expect(live).toEqual([]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(formulaCdr.id)!.dialed).toBe(`'${formula}`);
    expect(byId.get(longCdr.id)!.dialed).toBe(`'${long.slice(0, 64)}`);
    expect(byId.get(busyCdr.id)).toMatchObject({ sipReason: `'${reason}`, caller: did, callee: dest, dialed: dest, sipCode: '486' });
    expect(did).toMatch(/^\+1\d{10}$/);

    await gw.expectAlive();
  }, 90_000);
});
