/** Rate decks: list and create, a deck's rates with CSV upload, and a price quote. */
import { useState } from 'preact/hooks';
import { api, type Page } from '../api';
import { Field, FormStatus, Section, useSubmit } from '../forms';
import { LoadError, Table, useLoad } from '../ui';
import { useAccounts } from './users';

interface Deck {
  id: string;
  name: string;
  currency: string;
  rates: number;
}
interface Rate {
  prefix: string;
  destination: string;
  ratePerMinute: string;
  connectionFee: string;
  firstIncrement: number;
  nextIncrement: number;
  effectiveFrom: string;
  effectiveTo: string | null;
}

const CSV_HEADER = 'prefix,destination,ratePerMinute,connectionFee,firstIncrement,nextIncrement,effectiveFrom,effectiveTo';

export function RatesPage({ args }: { args: string[] }) {
  const decks = useLoad(() => api<Page<Deck>>('/v1/rate-decks?limit=1000'), []);
  const accounts = useAccounts();
  const deckId = args[0];
  const rates = useLoad(() => (deckId ? api<Page<Rate>>(`/v1/rate-decks/${encodeURIComponent(deckId)}/rates?limit=500`) : Promise.resolve(undefined)), [deckId]);
  const [quote, setQuote] = useState<string>('');
  const create = useSubmit(async (v, form) => {
    const d = await api<Deck>('/v1/rate-decks', { method: 'POST', body: { name: v.name, currency: v.currency.trim().toUpperCase() } });
    form.reset();
    decks.reload();
    location.hash = `#/rates/${d.id}`;
    return `Rate deck ${d.name} created.`;
  });
  const upload = useSubmit(async (v, form) => {
    const file = (form.querySelector('input[type=file]') as HTMLInputElement | null)?.files?.[0];
    const body = file ? await file.text() : v.csv;
    await api(`/v1/rate-decks/${encodeURIComponent(deckId!)}/rates`, { method: 'POST', raw: { body, type: 'text/csv' } });
    form.reset();
    rates.reload();
    decks.reload();
    return 'Rates imported.';
  });
  const quoteForm = useSubmit(async (v) => {
    const q = await api<{ cost: string; currency: string; prefix: string; billableSeconds: number }>('/v1/rating/quote', { method: 'POST', body: { accountId: v.accountId, destination: v.destination.trim(), seconds: Number(v.seconds) } });
    setQuote(`${q.cost} ${q.currency} for ${q.billableSeconds} billable seconds (prefix ${q.prefix})`);
    return 'Quoted.';
  });
  const deck = decks.value?.data.find((d) => d.id === deckId);
  return (
    <>
      <LoadError error={decks.error ?? rates.error} />
      <Table
        caption="Rate decks"
        rows={decks.value?.data ?? []}
        columns={[
          { label: 'Name', render: (d) => <a href={`#/rates/${d.id}`}>{d.name}</a> },
          { label: 'Currency', render: (d) => d.currency },
          { label: 'Rates', render: (d) => d.rates },
        ]}
      />
      <Section title="New rate deck">
        <form onSubmit={create.onSubmit} aria-label="New rate deck">
          <Field name="name" label="Deck name" state={create.state} required />
          <Field name="currency" label="Currency" state={create.state} value="USD" />
          <button type="submit">Create deck</button>
          <FormStatus state={create.state} known={['name', 'currency']} />
        </form>
      </Section>
      {deck && (
        <Section title={`Rates of ${deck.name}`}>
          <form onSubmit={upload.onSubmit} aria-label="Upload rates">
            <Field name="csv" label="Rates CSV" multiline state={upload.state} value={`${CSV_HEADER}\n`} hint={`Columns: ${CSV_HEADER} (effectiveFrom/To ISO dates, empty: always). All rows or none.`} />
            <div class="field">
              <label for="rates-file">or a CSV file</label>
              <input id="rates-file" type="file" accept=".csv,text/csv" />
            </div>
            <button type="submit">Upload rates</button>
            <FormStatus state={upload.state} known={['csv']} />
          </form>
          <Table
            caption={`Rates of ${deck.name}`}
            rows={rates.value?.data ?? []}
            columns={[
              { label: 'Prefix', render: (r) => r.prefix },
              { label: 'Destination', render: (r) => r.destination },
              { label: 'Per minute', render: (r) => r.ratePerMinute },
              { label: 'Connection fee', render: (r) => r.connectionFee },
              { label: 'Increments', render: (r) => `${r.firstIncrement}/${r.nextIncrement}` },
              { label: 'From', render: (r) => r.effectiveFrom ?? '—' },
            ]}
          />
        </Section>
      )}
      <Section title="Quote">
        <form onSubmit={quoteForm.onSubmit} aria-label="Quote">
          <Field name="accountId" label="Account" state={quoteForm.state} options={[['', 'choose an account'], ...(accounts.value?.data ?? []).map((a): [string, string] => [a.id, a.name])]} />
          <Field name="destination" label="Destination" state={quoteForm.state} placeholder="+442071234567" />
          <Field name="seconds" label="Seconds" type="number" state={quoteForm.state} value="60" />
          <button type="submit">Quote</button>
          <FormStatus state={quoteForm.state} known={['accountId', 'destination', 'seconds']} />
        </form>
        {quote && <p class="result">{quote}</p>}
      </Section>
    </>
  );
}
