/** Number inventory: list, add one, import a CSV (e164[,monthlyFee]), assign to a user. */
import { api, type Page } from '../api';
import { Field, FormStatus, orNull, Section, useSubmit } from '../forms';
import { LoadError, Table, useLoad } from '../ui';
import type { User } from './users';

interface Num {
  e164: string;
  country: string | null;
  type: string;
  status: string;
  userId: string | null;
  monthlyFee: string;
}

export function NumbersPage(_: { args: string[] }) {
  const numbers = useLoad(() => api<Page<Num>>('/v1/numbers?limit=1000'), []);
  const users = useLoad(() => api<Page<User>>('/v1/users?limit=1000'), []);
  const userOptions: [string, string][] = [['', 'nobody'], ...(users.value?.data ?? []).map((u): [string, string] => [u.id, u.username])];
  const nameOf = (id: string | null) => (id ? (users.value?.data.find((u) => u.id === id)?.username ?? id.slice(0, 8)) : '—');
  const add = useSubmit(async (v, form) => {
    const n = await api<Num>('/v1/numbers', { method: 'POST', body: { e164: v.e164.trim(), userId: orNull(v.userId), ...(orNull(v.monthlyFee) ? { monthlyFee: v.monthlyFee.trim() } : {}) } });
    form.reset();
    numbers.reload();
    return `Number ${n.e164} added.`;
  });
  const assign = useSubmit(async (v) => {
    const n = await api<Num>(`/v1/numbers/${encodeURIComponent(v.number)}`, { method: 'PATCH', body: { userId: orNull(v.userId) } });
    numbers.reload();
    return `${n.e164} is ${n.userId ? `assigned to ${nameOf(n.userId)}` : 'unassigned'}.`;
  });
  const importCsv = useSubmit(async (v, form) => {
    const file = (form.querySelector('input[type=file]') as HTMLInputElement | null)?.files?.[0];
    const body = file ? await file.text() : v.csv;
    const r = await api<{ imported?: number; created?: number }>('/v1/numbers/import', { method: 'POST', raw: { body, type: 'text/csv' } });
    form.reset();
    numbers.reload();
    return `Imported ${r.imported ?? r.created ?? ''} number(s).`;
  });
  return (
    <>
      <LoadError error={numbers.error} />
      <Table
        caption="Numbers"
        rows={numbers.value?.data ?? []}
        columns={[
          { label: 'Number', render: (n) => n.e164 },
          { label: 'Country', render: (n) => n.country ?? '—' },
          { label: 'Type', render: (n) => n.type },
          { label: 'Status', render: (n) => n.status },
          { label: 'User', render: (n) => nameOf(n.userId) },
          { label: 'Monthly fee', render: (n) => n.monthlyFee },
        ]}
      />
      <Section title="Add a number">
        <form onSubmit={add.onSubmit} aria-label="Add a number">
          <Field name="e164" label="Number" state={add.state} required placeholder="+12025550100" />
          <Field name="userId" label="Assign to" state={add.state} options={userOptions} />
          <Field name="monthlyFee" label="Monthly fee" state={add.state} />
          <button type="submit">Add number</button>
          <FormStatus state={add.state} known={['e164', 'userId', 'monthlyFee']} />
        </form>
      </Section>
      <Section title="Assign a number">
        <form onSubmit={assign.onSubmit} aria-label="Assign a number">
          <Field name="number" label="Number to assign" state={assign.state} options={(numbers.value?.data ?? []).map((n) => n.e164)} alias="e164" />
          <Field name="userId" label="User" state={assign.state} options={userOptions} />
          <button type="submit">Assign</button>
          <FormStatus state={assign.state} known={['number', 'userId']} />
        </form>
      </Section>
      <Section title="Import numbers (CSV)">
        <form onSubmit={importCsv.onSubmit} aria-label="Import numbers">
          <Field name="csv" label="CSV text" multiline state={importCsv.state} placeholder={'e164,monthlyFee\n+12025550100,1.50'} hint="Header e164[,monthlyFee]; all rows or none" />
          <div class="field">
            <label for="numbers-file">or a CSV file</label>
            <input id="numbers-file" type="file" accept=".csv,text/csv" />
          </div>
          <button type="submit">Import</button>
          <FormStatus state={importCsv.state} known={['csv']} />
        </form>
      </Section>
    </>
  );
}
