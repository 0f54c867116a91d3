/** Accounts: list and create; one account's balance, fraud limits (PATCH), top-up with an Idempotency-Key, and ledger. */
import { useState } from 'preact/hooks';
import { api, newIdempotencyKey, type Page } from '../api';
import { Field, FormStatus, numOrNull, orNull, Section, useSubmit } from '../forms';
import { LoadError, short, Table, useLoad, when } from '../ui';

export interface Account {
  id: string;
  name: string;
  currency: string;
  balance: string;
  creditLimit: string;
  maxConcurrentCalls: number | null;
  allowedCountries: string[] | null;
  maxRatePerMinute: string | null;
  dailySpendLimit: string | null;
  rateDeckId: string | null;
  status: string;
}
interface Deck {
  id: string;
  name: string;
  currency: string;
}
interface Entry {
  id: string;
  kind: string;
  amount: string;
  balanceAfter: string;
  reference?: string | null;
  createdAt: string;
}

const countries = (v: string | undefined) => {
  const t = orNull(v);
  return t === null ? null : t.split(/[\s,]+/).filter(Boolean);
};

/** The limit fields shared by create and update, by API field name. */
function limits(v: Record<string, string>) {
  return {
    creditLimit: orNull(v.creditLimit) ?? '0',
    maxConcurrentCalls: numOrNull(v.maxConcurrentCalls),
    allowedCountries: countries(v.allowedCountries),
    maxRatePerMinute: orNull(v.maxRatePerMinute),
    dailySpendLimit: orNull(v.dailySpendLimit),
    rateDeckId: orNull(v.rateDeckId),
  };
}
const LIMIT_FIELDS = ['creditLimit', 'maxConcurrentCalls', 'allowedCountries', 'maxRatePerMinute', 'dailySpendLimit', 'rateDeckId'];

export const useDecks = () => useLoad(() => api<Page<Deck>>('/v1/rate-decks?limit=1000'), []);

export function AccountsPage({ args }: { args: string[] }) {
  return args[0] ? <AccountDetail id={args[0]} /> : <AccountList />;
}

function AccountList() {
  const accounts = useLoad(() => api<Page<Account>>('/v1/accounts?limit=1000'), []);
  const decks = useDecks();
  const { state, onSubmit } = useSubmit(async (v, form) => {
    const a = await api<Account>('/v1/accounts', { method: 'POST', body: { name: v.name, currency: v.currency.trim().toUpperCase(), status: v.status, ...limits(v) } });
    form.reset();
    accounts.reload();
    return `Account ${a.name} created (${a.id}).`;
  });
  return (
    <>
      <LoadError error={accounts.error} />
      <Table
        caption="Accounts"
        rows={accounts.value?.data ?? []}
        columns={[
          { label: 'Name', render: (a) => <a href={`#/accounts/${a.id}`}>{a.name}</a> },
          { label: 'Balance', render: (a) => `${a.balance} ${a.currency}` },
          { label: 'Credit limit', render: (a) => a.creditLimit },
          { label: 'Rate deck', render: (a) => decks.value?.data.find((d) => d.id === a.rateDeckId)?.name ?? (a.rateDeckId ? short(a.rateDeckId) : 'none (calls refused)') },
          { label: 'Status', render: (a) => a.status },
        ]}
      />
      <Section title="New account">
        <form onSubmit={onSubmit} aria-label="New account">
          <Field name="name" label="Name" state={state} required />
          <Field name="currency" label="Currency" state={state} value="USD" hint="ISO 4217, the rate deck's currency" />
          <Field name="rateDeckId" label="Rate deck" state={state} options={[['', 'none'], ...(decks.value?.data ?? []).map((d): [string, string] => [d.id, `${d.name} (${d.currency})`])]} hint="Calls are authorised only with a rate deck." />
          <LimitFields state={state} />
          <Field name="status" label="Status" state={state} options={['active', 'suspended']} />
          <button type="submit">Create account</button>
          <FormStatus state={state} known={['name', 'currency', 'status', ...LIMIT_FIELDS]} />
        </form>
      </Section>
    </>
  );
}

function LimitFields({ state, a }: { state: ReturnType<typeof useSubmit>['state']; a?: Account }) {
  return (
    <fieldset>
      <legend>Credit and fraud limits</legend>
      <Field name="creditLimit" label="Credit limit" state={state} value={a?.creditLimit ?? '0'} hint="How far below zero the balance may go" />
      <Field name="maxConcurrentCalls" label="Max concurrent calls" type="number" state={state} value={a?.maxConcurrentCalls?.toString() ?? ''} hint="Empty: the gateway default" />
      <Field name="allowedCountries" label="Allowed countries" state={state} value={a?.allowedCountries?.join(', ') ?? ''} hint="ISO codes, comma-separated; empty: every country" />
      <Field name="maxRatePerMinute" label="Max rate per minute" state={state} value={a?.maxRatePerMinute ?? ''} />
      <Field name="dailySpendLimit" label="Daily spend limit" state={state} value={a?.dailySpendLimit ?? ''} />
    </fieldset>
  );
}

function AccountDetail({ id }: { id: string }) {
  const account = useLoad(() => api<Account>(`/v1/accounts/${encodeURIComponent(id)}`), [id]);
  const ledger = useLoad(() => api<Page<Entry>>(`/v1/accounts/${encodeURIComponent(id)}/ledger?limit=100`), [id]);
  const decks = useDecks();
  const [key, setKey] = useState(newIdempotencyKey);
  const update = useSubmit(async (v) => {
    await api(`/v1/accounts/${encodeURIComponent(id)}`, { method: 'PATCH', body: { ...limits(v), status: v.status } });
    account.reload();
    return 'Limits saved.';
  });
  const topUp = useSubmit(async (v, form) => {
    const r = await api<{ balanceAfter?: string }>(`/v1/accounts/${encodeURIComponent(id)}/topups`, { method: 'POST', body: { amount: v.amount.trim(), reference: orNull(v.reference) ?? undefined }, headers: { 'Idempotency-Key': key } });
    form.reset();
    setKey(newIdempotencyKey());
    account.reload();
    ledger.reload();
    return `Topped up${r?.balanceAfter ? `; balance ${r.balanceAfter}` : ''}.`;
  });
  const a = account.value;
  return (
    <>
      <p>
        <a href="#/accounts">Back to the accounts</a>
      </p>
      <LoadError error={account.error ?? ledger.error} />
      {a && (
        <>
          <h2>{a.name}</h2>
          <p class="balance">
            Balance: <strong data-testid="balance">{a.balance}</strong> {a.currency}
          </p>
          <Section title="Top up">
            <form onSubmit={topUp.onSubmit} aria-label="Top up">
              <Field name="amount" label="Amount" state={topUp.state} required hint={`In ${a.currency}, exact decimals`} />
              <Field name="reference" label="Reference" state={topUp.state} />
              <p class="hint">
                Idempotency-Key <code>{key}</code>: sending this form twice credits once.
              </p>
              <button type="submit">Top up</button>
              <FormStatus state={topUp.state} known={['amount', 'reference']} />
            </form>
          </Section>
          <Section title="Limits">
            <form onSubmit={update.onSubmit} aria-label="Limits" key={a.id}>
              <Field name="rateDeckId" label="Rate deck" state={update.state} value={a.rateDeckId ?? ''} options={[['', 'none'], ...(decks.value?.data ?? []).map((d): [string, string] => [d.id, `${d.name} (${d.currency})`])]} />
              <LimitFields state={update.state} a={a} />
              <Field name="status" label="Status" state={update.state} value={a.status} options={['active', 'suspended']} />
              <button type="submit">Save limits</button>
              <FormStatus state={update.state} known={['status', ...LIMIT_FIELDS]} />
            </form>
          </Section>
        </>
      )}
      <Table
        caption="Ledger"
        rows={ledger.value?.data ?? []}
        columns={[
          { label: 'When', render: (e) => when(e.createdAt) },
          { label: 'Kind', render: (e) => e.kind },
          { label: 'Amount', render: (e) => e.amount },
          { label: 'Balance after', render: (e) => e.balanceAfter },
          { label: 'Reference', render: (e) => e.reference ?? '' },
        ]}
      />
    </>
  );
}
