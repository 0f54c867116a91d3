/**
 * Toll-free entries: the list, a rule editor (rules are tried in order, first match wins; the
 * conditions of one rule must all hold), and the translation dry run at a chosen instant.
 * Inputs are named by the API's field paths (rules.0.action.route, ...) so each message lands at
 * its control.
 */
import { useState } from 'preact/hooks';
import { api, type Page } from '../api';
import { Field, FormStatus, orNull, Section, useSubmit } from '../forms';
import { LoadError, Table, useLoad } from '../ui';
import { isoOf } from './cdrs';
import { useAccounts } from './users';

type Action = { route: string } | { split: { target: string; percent: number }[] } | { block: string; sipCode: number };
interface Rule {
  id?: string;
  name: string;
  when: { callerPrefixes?: string[]; callerTypes?: string[]; days?: string[]; timeRanges?: { from: string; to: string }[]; dateRanges?: { from: string; to: string }[] };
  action: Action;
}
interface Entry {
  e164: string;
  accountId: string;
  timezone: string;
  defaultTarget: string;
  rules: Rule[];
  version: number;
}
type DryRun = { target?: string; blocked?: boolean; reason?: string; sipCode?: number; ruleId: string | null; ruleName: string | null; version: number; at: string };

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const list = (v: string | undefined) => (v ?? '').split(/[\s,]+/).filter(Boolean);
const pairs = (v: string | undefined, sep: RegExp) =>
  list(v).map((p) => {
    const [from = '', to = ''] = p.split(sep);
    return { from, to };
  });

export function TollFreePage({ args }: { args: string[] }) {
  const entries = useLoad(() => api<Page<Entry>>('/v1/tollfree?limit=1000'), []);
  const selected = args[0];
  return (
    <>
      <LoadError error={entries.error} />
      <Table
        caption="Toll-free numbers"
        rows={entries.value?.data ?? []}
        columns={[
          { label: 'Number', render: (e) => <a href={`#/tollfree/${encodeURIComponent(e.e164)}`}>{e.e164}</a> },
          { label: 'Default target', render: (e) => e.defaultTarget },
          { label: 'Rules', render: (e) => e.rules.map((r) => r.name).join(', ') || '—' },
          { label: 'Time zone', render: (e) => e.timezone },
          { label: 'Version', render: (e) => e.version },
        ]}
      />
      <p>
        <a href="#/tollfree/new">New toll-free number</a>
      </p>
      {selected && <Editor key={selected} e164={selected === 'new' ? undefined : selected} onSaved={entries.reload} />}
    </>
  );
}

function Editor({ e164, onSaved }: { e164?: string; onSaved: () => void }) {
  const entry = useLoad(() => (e164 ? api<Entry>(`/v1/tollfree/${encodeURIComponent(e164)}`) : Promise.resolve(undefined)), [e164]);
  const accounts = useAccounts();
  const [extra, setExtra] = useState(0);
  const [removed, setRemoved] = useState<number[]>([]);
  const [result, setResult] = useState<DryRun | undefined>(undefined);
  const e = entry.value;
  const rules: (Rule | undefined)[] = [...(e?.rules ?? []), ...Array.from({ length: extra }, () => undefined)];
  const save = useSubmit(async (v, form) => {
    const body = {
      e164: orNull(v.e164) ?? '',
      accountId: v.accountId,
      timezone: v.timezone.trim(),
      defaultTarget: v.defaultTarget.trim(),
      rules: rules.flatMap((r, i) => (removed.includes(i) ? [] : [ruleFrom(form, v, i, r?.id)])),
    };
    const saved = e ? await api<Entry>(`/v1/tollfree/${encodeURIComponent(e.e164)}`, { method: 'PUT', body }) : await api<Entry>('/v1/tollfree', { method: 'POST', body });
    onSaved();
    if (!e) location.hash = `#/tollfree/${encodeURIComponent(saved.e164)}`;
    else entry.reload();
    setExtra(0);
    setRemoved([]);
    return `Saved version ${saved.version}.`;
  });
  const dryRun = useSubmit(async (v) => {
    const r = await api<DryRun>(`/v1/tollfree/${encodeURIComponent(e!.e164)}/translate`, { method: 'POST', body: { caller: orNull(v.caller), at: isoOf(v.at), callId: orNull(v.callId) ?? undefined } });
    setResult(r);
    return 'Dry run done.';
  });
  if (e164 && !e) return <LoadError error={entry.error} />;
  // Rules are numbered as the API numbers them: removed ones leave no gap.
  let n = -1;
  return (
    <>
      <Section title={e ? `Edit ${e.e164}` : 'New toll-free number'}>
        <form onSubmit={save.onSubmit} aria-label="Toll-free entry" key={e?.version ?? 'new'}>
          <Field name="e164" label="Toll-free number" state={save.state} value={e?.e164 ?? ''} required />
          <Field name="accountId" label="Account" state={save.state} value={e?.accountId ?? ''} options={[['', 'choose an account'], ...(accounts.value?.data ?? []).map((a): [string, string] => [a.id, a.name])]} />
          <Field name="timezone" label="Time zone" state={save.state} value={e?.timezone ?? 'America/New_York'} hint="IANA name; day and time conditions are read in it" />
          <Field name="defaultTarget" label="Default target" state={save.state} value={e?.defaultTarget ?? ''} required hint="Where calls go when no rule matches" />
          <p class="hint">Rules are tried in order; the first whose conditions all hold decides. A condition left empty matches every call.</p>
          {rules.map((r, i) => {
            if (removed.includes(i)) return null;
            n++;
            return <RuleEditor index={n} slot={i} rule={r} state={save.state} onRemove={() => setRemoved([...removed, i])} />;
          })}
          <button type="button" class="secondary" onClick={() => setExtra(extra + 1)}>
            Add a rule
          </button>{' '}
          <button type="submit">Save entry</button>
          <FormStatus state={save.state} known={['e164', 'accountId', 'timezone', 'defaultTarget', 'rules']} />
        </form>
      </Section>
      {e && (
        <Section title="Translation dry run">
          <form onSubmit={dryRun.onSubmit} aria-label="Translation dry run">
            <Field name="caller" label="Caller" state={dryRun.state} placeholder="+12125550100, empty: withheld" />
            <Field name="at" label="At (your local time)" type="datetime-local" state={dryRun.state} hint="Empty: now" />
            <Field name="callId" label="Call id" state={dryRun.state} hint="Picks the share of a percentage split" />
            <button type="submit">Dry run</button>
            <FormStatus state={dryRun.state} known={['caller', 'at', 'callId']} />
          </form>
          {result && (
            <p class="result" data-testid="dry-run-result">
              {result.blocked ? `Blocked (${result.sipCode}): ${result.reason}` : `Routed to ${result.target}`} by {result.ruleName ? `rule “${result.ruleName}”` : 'the default target'}, version {result.version}, at {new Date(result.at).toISOString()}.
            </p>
          )}
        </Section>
      )}
    </>
  );
}

/** Reads rule slot `slot` of the form (inputs named rules.<slot>.…) into the API's shape. */
function ruleFrom(form: HTMLFormElement, v: Record<string, string>, slot: number, id?: string): Rule {
  const p = `rules.s${slot}.`;
  const when: Rule['when'] = {};
  const prefixes = list(v[`${p}when.callerPrefixes`]);
  if (prefixes.length) when.callerPrefixes = prefixes;
  const days = [...form.querySelectorAll<HTMLInputElement>(`input[data-days="${slot}"]:checked`)].map((c) => c.value);
  if (days.length) when.days = days;
  const times = pairs(v[`${p}when.timeRanges`], /-(?=\d)/);
  if (times.length) when.timeRanges = times;
  const dates = pairs(v[`${p}when.dateRanges`], /\.\./);
  if (dates.length) when.dateRanges = dates;
  const kind = v[`${p}action`];
  let action: Action;
  if (kind === 'block') action = { block: v[`${p}action.block`] ?? '', sipCode: Number(v[`${p}action.sipCode`] ?? 403) };
  else if (kind === 'split')
    action = {
      split: list(v[`${p}action.split`]).map((s) => {
        const [target = '', percent = ''] = s.split('=');
        return { target, percent: Number(percent) };
      }),
    };
  else action = { route: v[`${p}action.route`] ?? '' };
  return { ...(id ? { id } : {}), name: v[`${p}name`] ?? '', when, action };
}

function RuleEditor({ index, slot, rule, state, onRemove }: { index: number; slot: number; rule?: Rule; state: ReturnType<typeof useSubmit>['state']; onRemove: () => void }) {
  const a = rule?.action;
  const [kind, setKind] = useState(!a ? 'route' : 'block' in a ? 'block' : 'split' in a ? 'split' : 'route');
  const w = rule?.when ?? {};
  // The input's name carries the slot (stable while rules are removed); errors name the API's index.
  const f = (suffix: string) => ({ name: `rules.s${slot}.${suffix}`, errorName: `rules.${index}.${suffix}`, state });
  return (
    <fieldset class="rule">
      <legend>Rule {index + 1}</legend>
      <Field {...f('name')} label={`Rule ${index + 1} name`} value={rule?.name ?? ''} />
      <Field {...f('when.callerPrefixes')} label={`Rule ${index + 1} caller prefixes`} value={w.callerPrefixes?.join(', ') ?? ''} hint="+ and leading digits, comma-separated" />
      <fieldset class="days">
        <legend>Rule {index + 1} days</legend>
        {DAYS.map((d) => (
          <label>
            <input type="checkbox" value={d} data-days={slot} defaultChecked={w.days?.includes(d)} /> {d}
          </label>
        ))}
      </fieldset>
      <Field {...f('when.timeRanges')} label={`Rule ${index + 1} time ranges`} value={w.timeRanges?.map((t) => `${t.from}-${t.to}`).join(', ') ?? ''} hint="HH:MM-HH:MM, comma-separated" />
      <Field {...f('when.dateRanges')} label={`Rule ${index + 1} date ranges`} value={w.dateRanges?.map((t) => `${t.from}..${t.to}`).join(', ') ?? ''} hint="YYYY-MM-DD..YYYY-MM-DD" />
      <Field {...f('action')} label={`Rule ${index + 1} action`} value={kind} onChange={setKind} options={[['route', 'route to a number'], ['block', 'block'], ['split', 'split by percentage']]} />
      {/* Only the chosen action's fields: the API takes exactly one of route, block and split. */}
      {kind === 'route' && <Field {...f('action.route')} label={`Rule ${index + 1} route to`} value={a && 'route' in a ? a.route : ''} />}
      {kind === 'block' && <Field {...f('action.block')} label={`Rule ${index + 1} block reason`} value={a && 'block' in a ? a.block : ''} />}
      {kind === 'block' && <Field {...f('action.sipCode')} label={`Rule ${index + 1} block SIP code`} value={String(a && 'sipCode' in a ? a.sipCode : 403)} options={['403', '603']} />}
      {kind === 'split' && <Field {...f('action.split')} label={`Rule ${index + 1} split`} value={a && 'split' in a ? a.split.map((s) => `${s.target}=${s.percent}`).join(', ') : ''} hint="target=percent, comma-separated" />}
      <button type="button" class="secondary" onClick={onRemove}>
        Remove rule {index + 1}
      </button>
    </fieldset>
  );
}
