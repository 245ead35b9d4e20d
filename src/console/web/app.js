// The console's page: preact + htm for the view, uPlot for the charts. Bundled by esbuild at build time (npm run
// build) into dist/src/console/web/app.js and app.css, served by the console itself: nothing from a CDN.
import { h, render } from 'preact';
import { useEffect, useRef, useState, useCallback } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';

const html = htm.bind(h);
const VIEWS = [
  ['overview', 'Overview'],
  ['keys', 'Keys'],
  ['contracts', 'Contracts'],
  ['settlement', 'Settlement'],
  ['audit', 'Audit trail'],
  ['tokens', 'Tokens'],
];
const REFRESH_MS = 5000;
const STATUS_MEANING = { 401: 'no or unknown token', 403: 'outside the token policy or spend ceiling', 429: 'rate limit or failed-request budget', 503: 'audit log, nonce store or signer unavailable' };

async function getJson(url) {
  const res = await fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return body;
}

/** Fetch `url` now and every REFRESH_MS; returns [data, error, reload]. */
function usePoll(url) {
  const [state, setState] = useState({ data: undefined, error: undefined });
  const load = useCallback(() => {
    getJson(url).then(
      (data) => setState({ data, error: undefined }),
      (e) => setState((s) => ({ data: s.data, error: e.message })),
    );
  }, [url]);
  useEffect(() => {
    load();
    const t = setInterval(load, REFRESH_MS);
    return () => clearInterval(t);
  }, [load]);
  return [state.data, state.error, load];
}

const fmtTime = (t) => (t ? new Date(t).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : '—');
const fmtHm = (t) => new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
const num = (n) => (n === undefined || n === null ? '—' : Number(n).toLocaleString());

function useRoute() {
  const parse = () => {
    const m = /^#\/(\w+)/.exec(location.hash);
    return m && VIEWS.some(([id]) => id === m[1]) ? m[1] : 'overview';
  };
  const [route, setRoute] = useState(parse());
  useEffect(() => {
    const on = () => setRoute(parse());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function useTheme() {
  const initial = localStorage.getItem('theme') ?? (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark');
  const [theme, setTheme] = useState(initial);
  // Set while rendering, not in an effect: children (the charts) read the theme's colours in their own effects,
  // which run before their parent's.
  document.documentElement.dataset.theme = theme;
  useEffect(() => localStorage.setItem('theme', theme), [theme]);
  return [theme, () => setTheme(theme === 'dark' ? 'light' : 'dark')];
}

function App() {
  const route = useRoute();
  const [theme, toggle] = useTheme();
  const title = VIEWS.find(([id]) => id === route)[1];
  useEffect(() => {
    document.title = `${title} · arkeo-signer console`;
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [route]);
  return html`
    <a class="skip" href="#main" onClick=${(e) => (e.preventDefault(), document.getElementById('main').focus())}>Skip to content</a>
    <header class="top">
      <span class="brand">arkeo-signer console</span>
      <nav aria-label="Views">
        <ul>
          ${VIEWS.map(([id, label]) => html`<li><a href=${`#/${id}`} aria-current=${route === id ? 'page' : undefined}>${label}</a></li>`)}
        </ul>
      </nav>
      <button type="button" class="theme" onClick=${toggle} aria-label=${`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}>${theme === 'dark' ? 'Light theme' : 'Dark theme'}</button>
    </header>
    <main id="main" tabindex="-1">
      <h1>${title}</h1>
      <p class="readonly">Read-only: changes are made with the <code>arkeo-signer</code> CLI; each view names the command.</p>
      ${route === 'overview' && html`<${Overview} theme=${theme} />`}
      ${route === 'keys' && html`<${Keys} />`}
      ${route === 'contracts' && html`<${Contracts} />`}
      ${route === 'settlement' && html`<${Settlement} />`}
      ${route === 'audit' && html`<${Audit} />`}
      ${route === 'tokens' && html`<${Tokens} />`}
    </main>
  `;
}

function ErrorLine({ error }) {
  return error ? html`<p class="error" role="alert">Could not load: ${error}</p>` : null;
}

/**
 * A view of one API endpoint, polled (usePoll): "Loading…" until its first answer, then `view(data)` under the
 * last error (the fetch's, or the one the endpoint reports in its body).
 */
function Polled({ url, view }) {
  const [data, error] = usePoll(url);
  if (!data) return html`<${ErrorLine} error=${error} /><p>Loading…</p>`;
  return html`<${ErrorLine} error=${error || data.error} />${view(data)}`;
}

function IntegrityBanner({ integrity, file }) {
  if (!integrity) return null;
  if (!integrity.ok) {
    return html`<div class="banner bad" role="alert" data-testid="integrity">
      <strong>Audit trail broken at seq ${integrity.brokenAt}:</strong> ${integrity.problem}.
      Verified through seq ${num(integrity.verifiedThrough)}. Inspect with <code>arkeo-signer audit verify ${file ?? 'FILE'}</code>.
    </div>`;
  }
  const pct = integrity.fileBytes ? Math.floor((integrity.indexedBytes / integrity.fileBytes) * 100) : 100;
  return html`<div class="banner good" role="status" data-testid="integrity">
    ${integrity.indexing && pct < 100 ? `Reading the log (${pct} %)… ` : ''}Chain and MACs verified through seq ${num(integrity.verifiedThrough)} at ${fmtHm(integrity.checkedAt)}.
    ${integrity.notes.map((n) => html` <span class="note">(${n})</span>`)}
  </div>`;
}

// ---------------------------------------------------------------------------------------------------- overview

function Chart({ title, series, data, unit, theme }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const css = getComputedStyle(document.documentElement);
    const color = (v) => css.getPropertyValue(v).trim();
    const opts = {
      title,
      width: Math.max(300, box.current.clientWidth),
      height: 220,
      series: [{}, ...series.map((s, i) => ({ label: s, stroke: color(`--series-${i}`), width: 2, spanGaps: false, value: (_u, v) => (v === null || v === undefined ? '—' : `${v.toFixed(2)} ${unit}`) }))],
      axes: [
        { stroke: color('--fg'), grid: { stroke: color('--grid') }, ticks: { stroke: color('--grid') } },
        { stroke: color('--fg'), grid: { stroke: color('--grid') }, ticks: { stroke: color('--grid') }, label: unit, size: 60 },
      ],
      scales: { x: { time: true } },
    };
    plot.current = new uPlot(opts, data, box.current);
    const ro = new ResizeObserver(() => box.current && plot.current?.setSize({ width: Math.max(300, box.current.clientWidth), height: 220 }));
    ro.observe(box.current);
    return () => {
      ro.disconnect();
      plot.current.destroy();
    };
  }, [theme]);
  useEffect(() => plot.current?.setData(data), [data]);
  const last = data[1].filter((v) => v !== null).at(-1);
  return html`<figure class="chart">
    <div ref=${box} role="img" aria-label=${`${title}: ${last === undefined ? 'no data yet' : `latest ${last.toFixed(2)} ${unit}`}`}></div>
  </figure>`;
}

function Overview({ theme }) {
  return html`<${Polled} url="/api/overview" view=${(data) => html`<${OverviewOf} data=${data} theme=${theme} />`} />`;
}

function OverviewOf({ data, theme }) {
  const { health, samples, refusals, alerts, integrity } = data;
  const t = samples.map((s) => s.t);
  const healthItems = health.body ? Object.entries(health.body).filter(([k]) => k !== 'ok') : [];
  return html`
    <section aria-labelledby="alerts-h">
      <h2 id="alerts-h">Alerts</h2>
      ${alerts.length === 0
        ? html`<p class="ok-text">No alerts.</p>`
        : html`<ul class="alerts">${alerts.map((a) => html`<li class=${a.level}><strong>${a.level === 'error' ? 'Error' : 'Warning'}:</strong> ${a.text}${a.command ? html`<br /><span class="cmd">Do: <code>${a.command}</code></span>` : ''}</li>`)}</ul>`}
    </section>
    <section aria-labelledby="health-h">
      <h2 id="health-h">Daemon health</h2>
      ${!health.reachable
        ? html`<p class="bad-text">Unreachable: ${health.error}</p>`
        : html`<dl class="health">
            <div><dt>Overall</dt><dd class=${health.body?.ok ? 'ok-text' : 'bad-text'}>${health.body?.ok ? 'ok' : `not ok (HTTP ${health.status})`}</dd></div>
            ${healthItems.map(([k, v]) => html`<div><dt>${k.replace(/_/g, ' ')}</dt><dd class=${typeof v === 'string' && v !== 'ok' ? 'bad-text' : ''}>${typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd></div>`)}
          </dl>`}
      <p class="small">Sampled every ${data.sampleIntervalMs / 1000} s; last at ${fmtTime(health.at)}.</p>
    </section>
    <section aria-labelledby="integ-h">
      <h2 id="integ-h">Audit trail</h2>
      <${IntegrityBanner} integrity=${integrity} />
    </section>
    <section aria-labelledby="charts-h">
      <h2 id="charts-h">Claims over the last hour</h2>
      <div class="charts">
        <${Chart} theme=${theme} title="Claims per second" series=${['claims/s']} unit="/s" data=${[t, samples.map((s) => s.claimsPerSecond)]} />
        <${Chart} theme=${theme} title="Claim latency" series=${['p50', 'p99']} unit="ms" data=${[t, samples.map((s) => s.p50Ms), samples.map((s) => s.p99Ms)]} />
      </div>
    </section>
    <section aria-labelledby="ref-h">
      <h2 id="ref-h">Refusals by reason</h2>
      <table>
        <thead><tr><th scope="col">Status</th><th scope="col">Meaning</th><th scope="col" class="n">Last hour</th><th scope="col" class="n">Total</th></tr></thead>
        <tbody>${refusals.map((r) => html`<tr><td>${r.status}</td><td>${STATUS_MEANING[r.status]}</td><td class="n">${num(r.lastHour)}</td><td class="n">${num(r.total)}</td></tr>`)}</tbody>
      </table>
      <p class="small">From the audit log. Past a peer's failed-request budget the daemon audits one refusal a minute; the alert above also counts the daemon's metric.</p>
    </section>
  `;
}

// ---------------------------------------------------------------------------------------------------- keys

function Keys() {
  return html`<${Polled} url="/api/keys" view=${KeysOf} />`;
}

function KeysOf(data) {
  return html`
    ${data.notes.map((n) => html`<p class="note">${n}</p>`)}
    <table data-testid="keys">
      <thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Address</th><th scope="col">Public key</th><th scope="col" class="n">Signatures today</th><th scope="col" class="n">Total</th><th scope="col">Last use</th><th scope="col">Tokens allowed</th></tr></thead>
      <tbody>
        ${data.keys.map(
          (k) => html`<tr>
            <th scope="row">${k.name ?? '—'}</th><td>${k.kind}</td><td class="mono">${k.address ?? '—'}</td>
            <td class="mono">${k.pubkey ?? html`<span class="small">not read (see below)</span>`}</td>
            <td class="n">${num(k.signaturesToday)}</td><td class="n">${num(k.signaturesTotal)}</td><td>${fmtTime(k.lastUse)}</td><td>${k.tokens.join(', ') || '—'}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    <p class="small">Public keys live in the keyring's key records next to the private keys; the console opens none of them. Show one with <code>arkeo-signer keys show NAME -p</code>. Add or remove keys with <code>arkeo-signer keys</code>, then restart the daemon.</p>
  `;
}

// ---------------------------------------------------------------------------------------------------- contracts

function Contracts() {
  return html`<${Polled} url="/api/contracts" view=${ContractsOf} />`;
}

function ContractsOf(data) {
  return html`
    <table data-testid="contracts">
      <thead><tr>
        <th scope="col">Contract</th><th scope="col">Key</th><th scope="col" class="n">Last nonce signed</th><th scope="col" class="n">Reserved through</th>
        <th scope="col" class="n">Rate</th><th scope="col" class="n">Deposit</th><th scope="col" class="n">Max spend</th><th scope="col">Spend used / ceiling</th><th scope="col">Provider's nonce</th>
      </tr></thead>
      <tbody>
        ${data.contracts.map(
          (c) => html`<tr data-contract=${c.contract}>
            <th scope="row">${c.contract}</th>
            <td>${c.key ? html`${c.key}<br />` : ''}<span class="mono small">${c.signer}</span></td>
            <td class="n" data-field="nonce">${num(c.lastNonce)}</td>
            <td class="n">${num(c.reserved)}</td>
            <td class="n">${num(c.rate)}</td><td class="n">${num(c.deposit)}</td><td class="n">${num(c.maxSpend)}</td>
            <td class="spend">${c.ceiling === undefined
              ? html`<span class="small">no terms recorded: <code>arkeo-signer claim contract add --id ${c.contract} …</code></span>`
              : html`<meter min="0" max="1" low="0.8" high="0.95" optimum="0" value=${Math.min(c.fraction, 1)} aria-label=${`contract ${c.contract} spend`}></meter>
                  <span data-field="spend">${num(c.spent)} / ${num(c.ceiling)} (${(c.fraction * 100).toFixed(1)} %)</span>`}</td>
            <td data-field="provider"><${ProviderCell} c=${c} /></td>
          </tr>`,
        )}
      </tbody>
    </table>
    <p class="small">Last nonce signed and spend (nonce × rate) come from the audit log; "reserved through" is the nonce store's mark (${data.store ?? 'store'}), which runs ahead by the block the daemon holds. Change terms with <code>arkeo-signer claim contract add</code>; repair a nonce with <code>arkeo-signer nonce set|sync</code> (<code>nonce sync</code> raises ours to the provider's).</p>
  `;
}

function ProviderCell({ c }) {
  const p = c.provider;
  if (!p) return html`<span class="small">not configured (<code>--sentinel</code>, <code>--lcd</code>)</span>`;
  if (!p.at) return html`<span class="small">checking…</span>`;
  const behind = (v) => (v !== undefined && BigInt(v) < BigInt(c.lastNonce) ? html` <span class="small">(${(BigInt(c.lastNonce) - BigInt(v)).toString()} behind ours)</span>` : '');
  return html`${p.sentinel !== undefined ? html`<div>sentinel ${num(p.sentinel)}${behind(p.sentinel)}</div>` : ''}
    ${p.chain !== undefined ? html`<div>chain ${num(p.chain)}${behind(p.chain)}</div>` : ''}
    ${p.error ? html`<div class="small bad-text">${p.error}</div>` : ''}`;
}

// ---------------------------------------------------------------------------------------------------- settlement

/** Amounts are decimal strings (uint64 and more): formatted as BigInts, never through a float. */
const big = (v) => (v === undefined || v === null ? '—' : BigInt(v).toLocaleString());
const coins = (byDenom) => Object.entries(byDenom ?? {}).map(([d, v]) => `${big(v)} ${d}`).join(', ') || '0';
const shortHash = (h) => `${h.slice(0, 10)}…${h.slice(-6)}`;

function Settlement() {
  return html`<${Polled} url="/api/settlement" view=${SettlementOf} />`;
}

function SettlementOf(data) {
  if (!data.configured) {
    return html`<p class="note" data-testid="settlement-off">No settler configured: start the console with <code>--settle-config FILE</code> (the settler's settings) or <code>--settle-store PATH|postgres://…</code> to see its pending value, deadlines and transactions.</p>`;
  }
  if (!data.contracts) return html`<p class="small">Settings: ${data.configFile ?? '—'}; store: ${data.store ?? '—'}. The other views do not depend on it.</p>`;
  const c = data.counts ?? {};
  const chain = data.chain ?? {};
  return html`
    <section aria-labelledby="pending-h">
      <h2 id="pending-h">Not settled yet</h2>
      <dl class="health" data-testid="settlement-summary">
        <div><dt>Pending value</dt><dd data-field="pending-value">${coins(data.pendingValue)}</dd></div>
        <div><dt>Claims pending</dt><dd>${num((c.new ?? 0) + (c.waiting ?? 0))}</dd></div>
        <div><dt>Sent, not in a block yet</dt><dd class=${data.unconfirmed ? 'bad-text' : ''}>${num(c.sent)} claim(s), ${num(data.unconfirmed)} transaction(s)</dd></div>
        <div><dt>Settled</dt><dd>${num(c.settled)}</dd></div>
        <div><dt>Refused</dt><dd>${num(c.refused)}</dd></div>
      </dl>
      <p class="small">${!data.lcd
        ? html`No node: values and deadlines need the settler's <code>node</code> in <code>--settle-config</code>, or <code>--lcd</code>.`
        : chain.error
          ? html`<span class="bad-text">Chain: ${chain.error}</span>`
          : chain.at
            ? `Chain at block ${big(chain.height)}, read ${fmtTime(chain.at)}.`
            : 'Reading the chain…'}</p>
    </section>
    <section aria-labelledby="deadlines-h">
      <h2 id="deadlines-h">Deadlines</h2>
      <table data-testid="settlement-contracts">
        <thead><tr>
          <th scope="col">Contract</th><th scope="col" class="n">Highest nonce</th><th scope="col" class="n">Claims</th><th scope="col">State</th>
          <th scope="col" class="n">Rate</th><th scope="col" class="n">Pending value</th><th scope="col" class="n">Settle by block</th><th scope="col" class="n">Blocks left</th>
        </tr></thead>
        <tbody>
          ${data.contracts.map(
            (r) => html`<tr data-contract=${r.contract}>
              <th scope="row">${r.contract}</th>
              <td class="n" data-field="nonce">${big(r.nonce)}</td>
              <td class="n">${num(r.claims)}</td>
              <td>${r.state}${r.reason ? ` (${r.reason})` : ''}${r.refusal ? html`<br /><span class="small bad-text" title=${r.detail}>would be refused: ${r.refusal}</span>` : ''}</td>
              <td class="n">${r.rate === undefined ? '—' : `${big(r.rate)} ${r.denom ?? ''}`}</td>
              <td class="n" data-field="value">${r.value === undefined ? '—' : `${big(r.value)} ${r.denom}`}</td>
              <td class="n" data-field="deadline">${big(r.deadline)}</td>
              <td class=${`n${r.urgent ? ' bad-text' : ''}`} data-field="blocks-left">${big(r.blocksLeft)}${r.urgent ? ' (urgent)' : ''}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${data.contracts.length === 0 ? html`<p class="ok-text">No claim waits to be settled.</p>` : ''}
      ${data.contractsTotal > data.contracts.length ? html`<p class="note">Showing the ${num(data.contracts.length)} contracts waiting longest of ${num(data.contractsTotal)}.</p>` : ''}
      <p class="small">Per contract, its highest claim not settled yet (billing is cumulative: it pays for the lower ones), valued as the settler values it: what the provider receives after the 10 % reserve, and the block to settle by. Earliest deadline first.</p>
    </section>
    <section aria-labelledby="txs-h">
      <h2 id="txs-h">Last transactions</h2>
      <table data-testid="settlement-txs">
        <thead><tr><th scope="col">Transaction</th><th scope="col" class="n">Height</th><th scope="col">Sent</th><th scope="col" class="n">Claims</th><th scope="col" class="n">Paid to the provider (after the reserve)</th><th scope="col" class="n">Fee</th><th scope="col">Result</th></tr></thead>
        <tbody>
          ${data.transactions.map(
            (t) => html`<tr data-hash=${t.hash}>
              <th scope="row" class="mono" title=${t.hash}>${shortHash(t.hash)}</th>
              <td class="n" data-field="height">${big(t.height)}</td>
              <td>${fmtTime(t.at)}</td>
              <td class="n" data-field="claims">${num(t.claims)}${t.settled !== t.claims ? ` (${num(t.settled)} paid)` : ''}</td>
              <td class="n" data-field="received">${big(t.received)}</td>
              <td class="n" data-field="fee">${t.fee}</td>
              <td data-field="result" class=${t.result === 'ok' ? 'ok-text' : t.result === 'pending' ? '' : 'bad-text'}>${t.result}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${data.transactions.length === 0 ? html`<p class="small">No transaction sent yet.</p>` : ''}
      <p class="small">From the settler's store (${data.store}), read-only${data.configFile ? `; settings ${data.configFile}` : ''}. The settler's audit log holds the same transactions: <code>arkeo-signer audit verify FILE</code>. Check the whole set-up with <code>arkeo-signer doctor --settle-config FILE</code>.</p>
    </section>
  `;
}

// ---------------------------------------------------------------------------------------------------- audit

const FILTERS = ['token', 'key', 'op', 'contract', 'result'];
const toIso = (local) => (local ? new Date(local).toISOString() : '');

function Audit() {
  const [form, setForm] = useState({ from: '', to: '', token: '', key: '', op: '', contract: '', result: '' });
  const [applied, setApplied] = useState(form);
  const [page, setPage] = useState(0);
  const params = new URLSearchParams();
  for (const k of FILTERS) if (applied[k]) params.set(k, applied[k]);
  if (applied.from) params.set('from', toIso(applied.from));
  if (applied.to) params.set('to', toIso(applied.to));
  const filterQuery = params.toString();
  const [data, error] = usePoll(`/api/audit?${filterQuery}${filterQuery ? '&' : ''}page=${page}&limit=50`);
  const set = (k) => (e) => setForm({ ...form, [k]: e.currentTarget.value });
  const values = { tokens: [], keys: [], ops: [], contracts: [], results: [], ...data?.values, keyNames: data?.keyNames ?? {} };
  const pages = data ? Math.max(1, Math.ceil(data.total / data.limit)) : 1;
  const submit = (e) => {
    e.preventDefault();
    setApplied(form);
    setPage(0);
  };
  const clear = () => {
    const empty = { from: '', to: '', token: '', key: '', op: '', contract: '', result: '' };
    setForm(empty);
    setApplied(empty);
    setPage(0);
  };
  return html`
    <${ErrorLine} error=${error} />
    <${IntegrityBanner} integrity=${data?.integrity} file=${data?.logFile} />
    <form class="filters" onSubmit=${submit} aria-label="Filter the audit trail">
      <label>From <input type="datetime-local" step="1" name="from" value=${form.from} onInput=${set('from')} /></label>
      <label>To <input type="datetime-local" step="1" name="to" value=${form.to} onInput=${set('to')} /></label>
      ${[
        ['token', 'Token', values.tokens],
        ['key', 'Key', values.keys],
        ['op', 'Operation', values.ops],
        ['contract', 'Contract', values.contracts],
        ['result', 'Result', values.results],
      ].map(
        ([k, label, list]) => html`<label>${label}
          <select name=${k} value=${form[k]} onChange=${set(k)}>
            <option value="">any</option>
            ${list.map((v) => html`<option value=${v}>${k === 'key' && values.keyNames?.[v] ? `${values.keyNames[v]} (${v.slice(0, 12)}…)` : v}</option>`)}
          </select></label>`,
      )}
      <div class="buttons"><button type="submit">Apply</button><button type="button" onClick=${clear}>Clear</button></div>
    </form>
    ${!data && html`<p>Loading…</p>`}
    ${data &&
    html`<div class="pager" role="navigation" aria-label="Pages">
        <span data-testid="total" aria-live="polite">${num(data.total)} entr${data.total === 1 ? 'y' : 'ies'} match, newest first</span>
        <button type="button" disabled=${page === 0} onClick=${() => setPage(page - 1)}>Newer</button>
        <span>Page ${page + 1} of ${num(pages)}</span>
        <button type="button" disabled=${page + 1 >= pages} onClick=${() => setPage(page + 1)}>Older</button>
        <a href=${`/api/audit/export?${filterQuery}${filterQuery ? '&' : ''}format=csv`} download>Export CSV</a>
        <a href=${`/api/audit/export?${filterQuery}${filterQuery ? '&' : ''}format=jsonl`} download>Export JSON lines</a>
      </div>
      <ol class="entries" data-testid="entries">
        ${data.entries.map((e) => html`<${Entry} key=${e.seq} e=${e} names=${data.keyNames} />`)}
      </ol>`}
  `;
}

function Entry({ e, names }) {
  const what = e.what ?? {};
  const who = e.who ?? {};
  const bad = e.result !== 'ok' && e.result !== 'started' && e.result !== 'stopped' && e.result !== 'recovered';
  return html`<li class=${bad ? 'refused' : ''} data-seq=${e.seq}>
    <details>
      <summary>
        <span class="seq">#${e.seq}</span>
        <span class="ts">${fmtTime(e.ts)}</span>
        <span class="op">${what.op ?? '—'}</span>
        <span class="result ${bad ? 'bad-text' : ''}">${e.result}${e.status ? ` ${e.status}` : ''}</span>
        <span class="who">${who.token ?? `(${who.transport ?? '?'})`}</span>
        <span class="key" title=${what.key ?? ''}>${names[what.key] ?? what.key ?? ''}</span>
        <span class="contract">${what.contract ? `contract ${what.contract}` : ''}${what.nonce ? ` nonce ${what.nonce}` : ''}</span>
        <span class="reason">${e.reason ?? ''}</span>
      </summary>
      <pre>${JSON.stringify(e, null, 2)}</pre>
    </details>
  </li>`;
}

// ---------------------------------------------------------------------------------------------------- tokens

function Tokens() {
  return html`<${Polled} url="/api/tokens" view=${TokensOf} />`;
}

function TokensOf(data) {
  return html`
    <table data-testid="tokens">
      <thead><tr><th scope="col">Name</th><th scope="col">Keys</th><th scope="col">Operations</th><th scope="col">Contracts</th><th scope="col">Rate</th><th scope="col" class="n">Max spend</th><th scope="col" class="n">Requests</th><th scope="col" class="n">Refusals</th><th scope="col">Last use</th><th scope="col">State</th></tr></thead>
      <tbody>
        ${data.tokens.map(
          (t) => html`<tr>
            <th scope="row">${t.name}</th><td>${t.policy.keys.join(', ')}</td><td>${t.policy.operations.join(', ')}</td><td>${t.policy.contracts.join(', ')}</td>
            <td>${t.policy.rate.per_second}/s, burst ${t.policy.rate.burst}</td><td class="n">${num(t.policy.max_spend)}</td>
            <td class="n">${num(t.requests)}</td><td class="n">${num(t.refusals)}</td><td>${fmtTime(t.lastUse)}</td>
            <td>${t.revoked_at ? `revoked ${fmtTime(t.revoked_at)}` : 'live'}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    <p class="small">From ${data.file} (names and policies; the console never reads a token's hash out). Create or revoke with <code>arkeo-signer daemon token create|revoke</code>, then reload the daemon (SIGHUP).</p>
  `;
}

render(html`<${App} />`, document.getElementById('app'));
