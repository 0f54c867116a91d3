import { startTestApp, TestApp, unique } from '../support/app';
import { TollFreeService } from '../../src/tollfree/tollfree.service';
import { enc, entryBody, uniqueTollFree } from './support';

describe('toll-free numbers through the HTTP API', () => {
  let t: TestApp;
  let accountId: string;
  beforeAll(async () => {
    t = await startTestApp();
    accountId = (await t.http().post('/v1/accounts').send({ name: unique('tf'), currency: 'USD' }).expect(201)).body.id;
  });
  afterAll(() => t.close());

  const weekend = {
    name: 'weekend',
    when: { callerPrefixes: ['+1212', '+1646'], days: ['sat', 'sun'], timeRanges: [{ from: '18:00', to: '09:00' }] },
    action: { route: '+12125550199' },
  };
  const split = { name: 'split', when: { callerPrefixes: ['+1312'] }, action: { split: [{ target: '+12125550101', percent: 70 }, { target: '+13125550102', percent: 30 }] } };
  const noPayphones = { name: 'no withheld', when: { callerTypes: ['unknown'] }, action: { block: 'withheld numbers are not accepted', sipCode: 603 } };

  const translate = (e164: string, body: object) => t.http().post(`/v1/tollfree/${enc(e164)}/translate`).send(body);

  it('creates an entry, gives each rule an id, and reads it back', async () => {
    const e164 = uniqueTollFree();
    const created = await t.http().post('/v1/tollfree').send(entryBody(e164, accountId, [weekend, split, noPayphones])).expect(201);
    expect(created.body).toMatchObject({ e164, accountId, timezone: 'America/New_York', defaultTarget: '+12125550100', version: 1 });
    expect(created.body.rules.map((r: { name: string }) => r.name)).toEqual(['weekend', 'split', 'no withheld']);
    for (const r of created.body.rules) expect(r.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.body.rules[2].action).toEqual({ block: 'withheld numbers are not accepted', sipCode: 603 });
    const got = await t.http().get(`/v1/tollfree/${enc(e164)}`).expect(200);
    expect(got.body).toEqual(created.body);
    const listed = await t.http().get(`/v1/tollfree?accountId=${accountId}&limit=1000`).expect(200);
    expect(listed.body.data.map((e: { e164: string }) => e.e164)).toContain(e164);
    await t.http().get(`/v1/tollfree/${enc(uniqueTollFree())}`).expect(404);
  });

  it('dry-runs translations: rule match, percentage split by call id, block, and the default', async () => {
    const e164 = uniqueTollFree();
    const rules = (await t.http().post('/v1/tollfree').send(entryBody(e164, accountId, [weekend, split, noPayphones])).expect(201)).body.rules;
    // Saturday 2027-11-20 20:00 EST (a future instant: the entry in force now applies).
    const sat = await translate(e164, { caller: '+16465550123', at: '2027-11-21T01:00:00Z', callId: 'a' }).expect(200);
    expect(sat.body).toMatchObject({ target: '+12125550199', ruleId: rules[0].id, ruleName: 'weekend', version: 1 });
    // Same caller on a Monday morning: no rule, the default target.
    const mon = await translate(e164, { caller: '+16465550123', at: '2027-11-22T14:00:00Z', callId: 'a' }).expect(200);
    expect(mon.body).toMatchObject({ target: '+12125550100', ruleId: null, ruleName: null });
    // A split answers the same target for the same call id, and both targets appear over many ids.
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const first = await translate(e164, { caller: '+13125550123', at: '2027-11-22T14:00:00Z', callId: `call-${i}` }).expect(200);
      const again = await translate(e164, { caller: '+13125550123', at: '2027-11-22T14:00:00Z', callId: `call-${i}` }).expect(200);
      expect(again.body.target).toBe(first.body.target);
      expect(first.body.ruleId).toBe(rules[1].id);
      seen.add(first.body.target);
    }
    expect([...seen].sort()).toEqual(['+12125550101', '+13125550102']);
    // A withheld caller is blocked with the rule's reason and SIP code.
    for (const caller of [null, 'anonymous']) {
      const blocked = await translate(e164, { caller, at: '2027-11-22T14:00:00Z' }).expect(200);
      expect(blocked.body).toMatchObject({ blocked: true, reason: 'withheld numbers are not accepted', sipCode: 603, ruleId: rules[2].id, ruleName: 'no withheld' });
    }
    // National caller input is normalised with DEFAULT_COUNTRY (US) before prefixes are matched.
    const national = await translate(e164, { caller: '(646) 555-0123', at: '2027-11-21T01:00:00Z' }).expect(200);
    expect(national.body.ruleName).toBe('weekend');
    await translate(uniqueTollFree(), { caller: null }).expect(404);
    const bad = await translate(e164, { at: 'yesterday', extra: 1 }).expect(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['at', 'extra']);
  });

  it('replaces an entry with PUT, keeping rule ids that are sent back, and applies the change at once', async () => {
    const e164 = uniqueTollFree();
    const v1 = (await t.http().post('/v1/tollfree').send(entryBody(e164, accountId, [weekend])).expect(201)).body;
    expect((await translate(e164, { caller: null }).expect(200)).body).toMatchObject({ target: '+12125550100', version: 1 }); // now cached
    const v2 = await t
      .http()
      .put(`/v1/tollfree/${enc(e164)}`)
      .send({ accountId, timezone: 'Asia/Tokyo', defaultTarget: '+81312345678', rules: [{ ...weekend, id: v1.rules[0].id, action: { route: '+81612345678' } }, noPayphones] })
      .expect(200);
    expect(v2.body).toMatchObject({ e164, version: 2, timezone: 'Asia/Tokyo', defaultTarget: '+81312345678' });
    expect(v2.body.rules[0].id).toBe(v1.rules[0].id);
    expect(v2.body.rules[1].id).not.toBe(v1.rules[0].id);
    expect((await translate(e164, { caller: '+13125550123' }).expect(200)).body).toMatchObject({ target: '+81312345678', ruleId: null, version: 2 });
    // Saturday 20:00 in Tokyo is 11:00 UTC.
    const r = await translate(e164, { caller: '+16465550123', at: '2027-11-20T11:00:00Z' }).expect(200);
    expect(r.body).toMatchObject({ target: '+81612345678', ruleId: v1.rules[0].id, version: 2 });
    const renamed = await t.http().put(`/v1/tollfree/${enc(e164)}`).send({ e164: uniqueTollFree(), accountId, timezone: 'UTC', defaultTarget: '+12125550100' }).expect(400);
    expect(renamed.body.errors).toEqual([{ field: 'e164', message: expect.stringContaining('must be the number in the path') }]);
    await t.http().put(`/v1/tollfree/${enc(uniqueTollFree())}`).send({ accountId, timezone: 'UTC', defaultTarget: '+12125550100' }).expect(404);
  });

  it('keeps every version (who, when, what), and the dry run at a past instant uses the version then in force', async () => {
    const operator = (await t.http().post('/v1/api-keys').send({ name: unique('tfop'), role: 'operator' }).expect(201)).body;
    const e164 = uniqueTollFree();
    await t.http().post('/v1/tollfree').send(entryBody(e164, accountId)).expect(201);
    await new Promise((r) => setTimeout(r, 30)); // so the two versions are apart in time
    await t.http(operator.secret).put(`/v1/tollfree/${enc(e164)}`).send({ accountId, timezone: 'America/New_York', defaultTarget: '+13125550102' }).expect(200);
    await new Promise((r) => setTimeout(r, 30));
    await t.http(operator.secret).delete(`/v1/tollfree/${enc(e164)}`).expect(204);
    await t.http().get(`/v1/tollfree/${enc(e164)}`).expect(404);

    const newestFirst = (await t.http().get(`/v1/tollfree/${enc(e164)}/versions`).expect(200)).body.data;
    expect(newestFirst.map((v: { version: number; change: string; changedBy: string }) => [v.version, v.change, v.changedBy])).toEqual([
      [3, 'delete', operator.id],
      [2, 'update', operator.id],
      [1, 'create', 'config'],
    ]);
    const versions = [...newestFirst].reverse();
    expect(versions[0].entry).toMatchObject({ e164, accountId, defaultTarget: '+12125550100', rules: [] });
    expect(versions[1].entry.defaultTarget).toBe('+13125550102');
    const [t1, t2, t3] = versions.map((v: { changedAt: string }) => Date.parse(v.changedAt));
    const at = (ms: number) => new Date(ms).toISOString();
    expect((await translate(e164, { caller: null, at: at((t1 + t2) / 2) }).expect(200)).body).toMatchObject({ target: '+12125550100', version: 1 });
    expect((await translate(e164, { caller: null, at: at((t2 + t3) / 2) }).expect(200)).body).toMatchObject({ target: '+13125550102', version: 2 });
    await translate(e164, { caller: null, at: at(t1 - 60_000) }).expect(404); // before it existed
    await translate(e164, { caller: null, at: at(t3 + 1000) }).expect(404); // after its deletion
    await translate(e164, { caller: null }).expect(404);

    // Created again, it continues the same history.
    const again = await t.http().post('/v1/tollfree').send(entryBody(e164, accountId)).expect(201);
    expect(again.body.version).toBe(4);
  });

  it('refuses a bad rule set whole, naming every problem (422), and changes nothing', async () => {
    const e164 = uniqueTollFree();
    const r = await t
      .http()
      .post('/v1/tollfree')
      .send({
        e164,
        accountId: '0190a000-0000-7000-8000-000000000000',
        timezone: 'America/Nowhere',
        defaultTarget: '+18885550100',
        rules: [
          { name: 'split', action: { split: [{ target: '+12125550101', percent: 50 }, { target: '+12125550102', percent: 40 }] } },
          { name: 'bad target', action: { route: '+1999' } },
          { name: 'toll-free target', action: { route: '+18005550111' } },
          { name: 'empty time', when: { timeRanges: [{ from: '10:00', to: '10:00' }] }, action: { route: '+12125550101' } },
          { name: 'dates backwards', when: { dateRanges: [{ from: '2026-12-26', to: '2026-12-24' }] }, action: { route: '+12125550101' } },
          { name: 'two actions', action: { route: '+12125550101', block: 'no' } },
        ],
      })
      .expect(422);
    expect(r.body.errors.map((e: { field: string }) => e.field)).toEqual([
      'timezone',
      'defaultTarget',
      'rules.0.action.split',
      'rules.1.action.route',
      'rules.2.action.route',
      'rules.3.when.timeRanges.0',
      'rules.4.when.dateRanges.0',
      'rules.5.action',
      'accountId',
    ]);
    expect(r.body.errors[2].message).toBe('percentages sum to 90, expected 100');
    expect(r.body.detail).toContain('refused whole');
    await t.http().get(`/v1/tollfree/${enc(e164)}`).expect(404);

    const notTollFree = await t.http().post('/v1/tollfree').send(entryBody('+12125550100', accountId)).expect(422);
    expect(notTollFree.body.errors).toEqual([{ field: 'e164', message: expect.stringContaining('not toll-free') }]);
  });

  it('refuses malformed input with 400 naming each field, duplicates with 409, other roles with 403', async () => {
    const e164 = uniqueTollFree();
    const bad = await t
      .http()
      .post('/v1/tollfree')
      .send({
        e164,
        accountId: 'nope',
        timezone: 'UTC',
        rules: [{ name: '', when: { days: ['funday'], timeRanges: [{ from: '9:00', to: '24:01' }], callerTypes: [] }, action: { split: [{ target: '+12125550101', percent: -5 }] } }],
        colour: 'red',
      })
      .expect(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(
      [
        'accountId',
        'defaultTarget',
        'rules.0.name',
        'rules.0.when.days.0',
        'rules.0.when.timeRanges.0.from',
        'rules.0.when.timeRanges.0.to',
        'rules.0.when.callerTypes',
        'rules.0.action.split.0.percent',
        'colour',
      ].sort(),
    );
    await t.http().post('/v1/tollfree').send(entryBody(e164, accountId)).expect(201);
    const dup = await t.http().post('/v1/tollfree').send(entryBody(e164, accountId)).expect(409);
    expect(dup.body.errors).toEqual([{ field: 'e164', message: `${e164} is already a toll-free number` }]);
    const billing = (await t.http().post('/v1/api-keys').send({ name: unique('tfbill'), role: 'billing' }).expect(201)).body;
    await t.http(billing.secret).get(`/v1/tollfree/${enc(e164)}`).expect(403);
    await t.http(billing.secret).post(`/v1/tollfree/${enc(e164)}/translate`).send({}).expect(403);
  });

  it('imports numbers with their default target from CSV, all or nothing, naming every bad row', async () => {
    const [a, b, c] = [uniqueTollFree('888'), uniqueTollFree('888'), uniqueTollFree('877')];
    const national = c.slice(2); // national format, normalised with DEFAULT_COUNTRY
    const csv = `e164,accountId,timezone,defaultTarget\n${a},${accountId},America/New_York,+12125550100\n${b},${accountId},Asia/Tokyo,+81312345678\n${national},${accountId},UTC,(212) 555-0101\n`;
    const ok = await t.http().post('/v1/tollfree/import').set('Content-Type', 'text/csv').send(csv).expect(201);
    expect(ok.body).toEqual({ imported: 3 });
    expect((await t.http().get(`/v1/tollfree/${enc(c)}`).expect(200)).body).toMatchObject({ e164: c, timezone: 'UTC', defaultTarget: '+12125550101', rules: [], version: 1 });
    const versions = (await t.http().get(`/v1/tollfree/${enc(b)}/versions`).expect(200)).body.data;
    expect(versions).toMatchObject([{ version: 1, change: 'create', changedBy: 'config', entry: { e164: b, timezone: 'Asia/Tokyo' } }]);
    expect((await translate(b, { caller: null }).expect(200)).body).toMatchObject({ target: '+81312345678', ruleId: null });

    const fresh = uniqueTollFree('888');
    const missingAccount = '0190a000-0000-7000-8000-00000000dead';
    const badCsv = [
      'e164,accountId,timezone,defaultTarget',
      `${fresh},${accountId},America/New_York,+12125550100`, // row 2: good
      `+12125550100,${accountId},America/New_York,+12125550100`, // row 3: not toll-free
      `${uniqueTollFree('888')},${accountId},Mars/Base,+12125550100`, // row 4: unknown zone
      `${uniqueTollFree('888')},${accountId},UTC,+18005550100`, // row 5: toll-free target
      `${fresh},${accountId},UTC,+12125550100`, // row 6: repeats row 2
      `${uniqueTollFree('888')},${missingAccount},UTC,+12125550100`, // row 7: no such account
      `${a},${accountId},UTC,+12125550100`, // row 8: already imported
      `${uniqueTollFree('888')},not-a-uuid,UTC,hello`, // row 9: two problems
    ].join('\n');
    const refused = await t.http().post('/v1/tollfree/import').set('Content-Type', 'text/csv').send(badCsv).expect(422);
    expect(refused.body.errors.map((e: { row: number; field: string }) => `${e.row}:${e.field}`)).toEqual([
      '3:e164',
      '4:timezone',
      '5:defaultTarget',
      '6:e164',
      '7:accountId',
      '8:e164',
      '9:defaultTarget',
      '9:accountId',
    ]);
    expect(refused.body.detail).toBe('7 of 8 rows are invalid; nothing was imported');
    await t.http().get(`/v1/tollfree/${enc(fresh)}`).expect(404);

    const header = await t.http().post('/v1/tollfree/import').set('Content-Type', 'text/csv').send('e164,account\n').expect(422);
    expect(header.body.errors.map((e: { field: string }) => e.field)).toEqual(['account', 'accountId', 'timezone', 'defaultTarget']);
    await t.http().post('/v1/tollfree/import').set('Content-Type', 'application/json').send({}).expect(415);
  });

  it('applies operator ranges: payphone callers by prefix, extra toll-free ranges for entries and targets', async () => {
    const e164 = uniqueTollFree();
    await t
      .http()
      .post('/v1/tollfree')
      .send(entryBody(e164, accountId, [{ name: 'no payphones', when: { callerTypes: ['payphone'] }, action: { block: 'payphones not accepted' } }]))
      .expect(201);
    const caller = '+13125559876';
    expect((await translate(e164, { caller }).expect(200)).body).toMatchObject({ target: '+12125550100', ruleId: null });
    const payphones = (await t.http().post('/v1/tollfree-ranges').send({ prefix: '+1312555987', kind: 'payphone', note: 'test payphones' }).expect(201)).body;
    expect((await translate(e164, { caller }).expect(200)).body).toMatchObject({ blocked: true, reason: 'payphones not accepted', sipCode: 403 });
    await t.http().delete(`/v1/tollfree-ranges/${payphones.id}`).expect(204);
    expect((await translate(e164, { caller }).expect(200)).body).toMatchObject({ target: '+12125550100' });

    // A range libphonenumber calls geographic becomes toll-free: it may be an entry, and no longer a target.
    const special = `+1208555${String(Date.now()).slice(-4)}`;
    await t.http().post('/v1/tollfree').send(entryBody(special, accountId)).expect(422);
    const range = (await t.http().post('/v1/tollfree-ranges').send({ prefix: special, kind: 'tollFree' }).expect(201)).body;
    await t.http().post('/v1/tollfree-ranges').send({ prefix: special, kind: 'tollFree' }).expect(409);
    await t.http().post('/v1/tollfree').send(entryBody(special, accountId)).expect(201);
    const asTarget = await t.http().put(`/v1/tollfree/${enc(e164)}`).send({ accountId, timezone: 'UTC', defaultTarget: special }).expect(422);
    expect(asTarget.body.errors).toEqual([{ field: 'defaultTarget', message: `${special} is toll-free; a target must be a routable number` }]);
    await t.http().delete(`/v1/tollfree-ranges/${range.id}`).expect(204);
    const listed = (await t.http().get('/v1/tollfree-ranges?limit=1000').expect(200)).body.data;
    expect(listed.map((r: { id: string }) => r.id)).not.toContain(range.id);
  });

  it('serves the B2BUA: translateNumber gives the routing and who pays, or undefined for an unknown number', async () => {
    const e164 = uniqueTollFree();
    await t.http().post('/v1/tollfree').send(entryBody(e164, accountId, [split])).expect(201);
    const service = t.app.get(TollFreeService);
    const call = { caller: '+13125550123', at: new Date('2027-11-22T14:00:00Z'), callId: 'b2bua-1' };
    const r = await service.translateNumber(e164, call);
    expect(r).toMatchObject({ e164, accountId, version: 1, ruleName: 'split' });
    expect(['+12125550101', '+13125550102']).toContain((r as { target: string }).target);
    expect(await service.translateNumber(e164, call)).toEqual(r);
    expect(await service.translateNumber(uniqueTollFree(), call)).toBeUndefined();
    expect(await service.isTollFreeNumber('+18005550100')).toBe(true);
    expect(await service.isTollFreeNumber('+12125550100')).toBe(false);
    // Deleting through the API drops the cached entry.
    await t.http().delete(`/v1/tollfree/${enc(e164)}`).expect(204);
    expect(await service.translateNumber(e164, call)).toBeUndefined();
  });
});
