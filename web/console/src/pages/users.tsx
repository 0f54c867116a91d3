/** Internet users: who is registered, from where, with which user agent (GET /v1/registrations), and a form to add one. */
import { api, type Page } from '../api';
import { Field, FormStatus, orNull, Section, useSubmit } from '../forms';
import { LoadError, Table, useLoad } from '../ui';
import type { Account } from './accounts';

export interface User {
  id: string;
  username: string;
  displayName: string | null;
  accountId: string;
  status: string;
  sipUri: string;
}
interface Registration {
  userId: string;
  contact: string;
  sourceAddress: string;
  sourcePort: number;
  transport: string;
  userAgent: string | null;
  expiresIn: number;
}

export const useAccounts = () => useLoad(() => api<Page<Account>>('/v1/accounts?limit=1000'), []);

export function UsersPage(_: { args: string[] }) {
  const users = useLoad(() => api<Page<User>>('/v1/users?limit=1000'), []);
  const regs = useLoad(() => api<{ data: Registration[] }>('/v1/registrations'), [], 10_000);
  const accounts = useAccounts();
  const { state, onSubmit } = useSubmit(async (v, form) => {
    const u = await api<User>('/v1/users', { method: 'POST', body: { username: v.username.trim(), password: v.password, accountId: v.accountId, displayName: orNull(v.displayName), status: v.status } });
    form.reset();
    users.reload();
    return `User ${u.username} created.`;
  });
  const byUser = new Map<string, Registration[]>();
  for (const r of regs.value?.data ?? []) byUser.set(r.userId, [...(byUser.get(r.userId) ?? []), r]);
  return (
    <>
      <LoadError error={users.error ?? regs.error} />
      <Table
        caption="Users"
        rows={users.value?.data ?? []}
        columns={[
          { label: 'Username', render: (u) => u.username },
          { label: 'Name', render: (u) => u.displayName ?? '' },
          { label: 'Account', render: (u) => accounts.value?.data.find((a) => a.id === u.accountId)?.name ?? u.accountId.slice(0, 8) },
          { label: 'Status', render: (u) => u.status },
          {
            label: 'Registered devices',
            render: (u) => {
              const list = byUser.get(u.id) ?? [];
              if (list.length === 0) return 'not registered';
              return (
                <ul class="plain">
                  {list.map((r) => (
                    <li>
                      {r.sourceAddress}:{r.sourcePort} over {r.transport}, {r.userAgent ?? 'no user agent'}, {r.expiresIn} s left
                    </li>
                  ))}
                </ul>
              );
            },
          },
        ]}
      />
      <Section title="New user">
        <form onSubmit={onSubmit} aria-label="New user">
          <Field name="username" label="SIP username" state={state} required />
          <Field name="password" label="SIP password" type="password" state={state} required hint="At least 8 characters" autoComplete="new-password" />
          <Field name="displayName" label="Display name" state={state} />
          <Field name="accountId" label="Account" state={state} options={[['', 'choose an account'], ...(accounts.value?.data ?? []).map((a): [string, string] => [a.id, a.name])]} />
          <Field name="status" label="Status" state={state} options={['active', 'disabled']} />
          <button type="submit">Create user</button>
          <FormStatus state={state} known={['username', 'password', 'displayName', 'accountId', 'status']} />
        </form>
      </Section>
    </>
  );
}
