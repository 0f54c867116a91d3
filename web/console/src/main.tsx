/**
 * The operator console: a single-page app on the gateway's own API (same origin, session cookie).
 * Routing is by the URL's fragment (#/cdrs), so the gateway serves one page at /console whatever
 * the view, and every view can be bookmarked.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, whenSignedOut } from './api';
import { Field, FormStatus, useSubmit } from './forms';
import { AccountsPage } from './pages/accounts';
import { CallsPage } from './pages/calls';
import { CdrsPage } from './pages/cdrs';
import { DashboardPage } from './pages/dashboard';
import { NumbersPage } from './pages/numbers';
import { RatesPage } from './pages/rates';
import { RoutingPage } from './pages/routing';
import { TollFreePage } from './pages/tollfree';
import { UsersPage } from './pages/users';

interface Session {
  role: string;
  keyId: string;
}

const VIEWS = [
  ['dashboard', 'Dashboard', DashboardPage],
  ['calls', 'Live calls', CallsPage],
  ['cdrs', 'CDRs', CdrsPage],
  ['accounts', 'Accounts', AccountsPage],
  ['users', 'Users', UsersPage],
  ['numbers', 'Numbers', NumbersPage],
  ['routing', 'Trunks and routes', RoutingPage],
  ['rates', 'Rate decks', RatesPage],
  ['tollfree', 'Toll-free', TollFreePage],
] as const;

function useHash(): string[] {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [parts, setParts] = useState(read);
  useEffect(() => {
    const on = () => setParts(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return parts;
}

function Login({ onIn }: { onIn: (s: Session) => void }) {
  const { state, onSubmit } = useSubmit(async (v) => {
    onIn(await api<Session>('/console/session', { method: 'POST', body: { apiKey: v.apiKey } }));
  });
  return (
    <main id="main" class="login">
      <h1>Gateway console</h1>
      <form onSubmit={onSubmit} aria-label="Log in">
        <Field name="apiKey" label="API key" type="password" state={state} required autoComplete="current-password" hint="An operator, billing or admin key (gwk_…). It is not kept in the browser." />
        <button type="submit" disabled={state.busy}>
          Log in
        </button>
        <FormStatus state={{ ...state, done: undefined }} known={['apiKey']} />
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [view = 'dashboard', ...rest] = useHash();
  useEffect(() => {
    whenSignedOut(() => setSession(null));
    api<Session>('/console/session').then(setSession, () => setSession(null));
  }, []);
  useEffect(() => {
    const label = VIEWS.find(([k]) => k === view)?.[1];
    document.title = label ? `${label} · Gateway console` : 'Gateway console';
  }, [view]);
  if (session === undefined) return <p role="status">Loading…</p>;
  if (session === null) return <Login onIn={setSession} />;
  const current = VIEWS.find(([k]) => k === view) ?? VIEWS[0];
  const Page = current[2];
  const logout = async () => {
    await api('/console/session', { method: 'DELETE' }).catch(() => undefined);
    setSession(null);
    location.hash = '';
  };
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header>
        <span class="brand">Gateway console</span>
        <nav aria-label="Sections">
          <ul>
            {VIEWS.map(([k, label]) => (
              <li>
                <a href={`#/${k}`} aria-current={k === current[0] ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
            <li>
              <a href="/admin/queues" target="_blank" rel="noopener">
                Queues
              </a>
            </li>
          </ul>
        </nav>
        <div class="who">
          <span>
            Role: <strong>{session.role}</strong>
          </span>
          <button type="button" class="secondary" onClick={logout}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <h1>{current[1]}</h1>
        <Page args={rest} />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
