// Sync & settings: account, this phone, what is waiting or refused, storage, sign-out.

import * as store from './store.js';
import { api } from './api.js';
import { syncNow } from './sync.js';
import { pushState, turnOn, turnOff } from './push.js';
import { h, clear, drawer, field, ago, toast, recordHref } from './ui.js';

function bytes(n) {
  if (!n && n !== 0) return 'unknown';
  return n > 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`;
}

export async function render(main, _route, ctx) {
  const body = h('div', { id: 'settings' });
  clear(main, h('h1', { text: 'Sync & settings' }), body);
  const draw = drawer(body, async (show) => {
    const [meta, counts, flagged, push, estimate, persisted] = await Promise.all([
      store.allMeta(),
      store.counts(),
      store.flagged(),
      pushState().catch((error) => ({ state: 'unsupported', text: error.message })),
      navigator.storage?.estimate?.().catch(() => null),
      navigator.storage?.persisted?.().catch(() => null),
    ]);
    const me = ctx.me;
    const name = h('input', { type: 'text', value: meta.deviceName || '', autocomplete: 'off' });
    const nameForm = h('form', { class: 'inline', onsubmit: async (e) => { e.preventDefault(); await store.setMeta('deviceName', name.value.trim()); toast('Device name saved.'); } },
      field('Device name', name, 'How this phone is shown in conflicts'), h('button', { type: 'submit', class: 'secondary' }, 'Save name'));
    const syncButton = h('button', { type: 'button', onclick: async () => {
      syncButton.disabled = true;
      syncButton.textContent = 'Syncing…';
      await syncNow().catch((err) => toast(err.message, { error: true }));
      draw();
    } }, 'Sync now');
    show(
      h('nav', { class: 'actions wrap', 'aria-label': 'More screens' },
        h('a', { class: 'button secondary', href: '#/companies' }, 'Companies'),
        h('a', { class: 'button secondary', href: '#/approvals' }, me.role === 'rep' ? 'Approval requests' : 'Approvals'),
        h('a', { class: 'button secondary', href: '#/conflicts' }, `Conflicts${counts.flagged ? ` (${counts.flagged})` : ''}`)),
      h('section', { 'aria-labelledby': 's-account' }, h('h2', { id: 's-account', text: 'Account' }),
        h('dl', { class: 'facts' },
          h('dt', { text: 'Name' }), h('dd', { text: me.name }),
          h('dt', { text: 'E-mail' }), h('dd', { text: me.email }),
          h('dt', { text: 'Role' }), h('dd', { text: `${me.role}${me.team_name ? `, team ${me.team_name}` : ''}` }))),
      h('section', { 'aria-labelledby': 's-sync' }, h('h2', { id: 's-sync', text: 'Sync' }),
        h('dl', { class: 'facts', id: 'sync-facts' },
          h('dt', { text: 'Last synced' }), h('dd', { id: 'last-sync', text: ago(meta.lastSync) }),
          h('dt', { text: 'Waiting to be sent' }), h('dd', { id: 'pending-count', text: String(counts.pending) }),
          h('dt', { text: 'Refused by the server' }), h('dd', { id: 'held-count' }, String(counts.held), counts.held ? h('span', {}, ' · ', h('a', { href: '#/conflicts', text: 'see why' })) : null),
          h('dt', { text: 'Records on this phone' }), h('dd', { text: counts.records.toLocaleString() }),
          h('dt', { text: 'This phone' }), h('dd', { text: meta.replica ? `replica ${meta.replica}` : 'not registered yet' })),
        syncButton,
        refusedList(flagged.filter((e) => e.held))),
      nameForm,
      remindersSection(push, draw),
      h('section', { 'aria-labelledby': 's-storage' }, h('h2', { id: 's-storage', text: 'Storage' }),
        h('p', { id: 'storage-used', text: estimate ? `${bytes(estimate.usage)} used of ${bytes(estimate.quota)} available.` : 'This browser does not say how much storage is used.' }),
        h('p', { id: 'storage-persisted', text: persisted ? 'Stored persistently: the browser will not clear it to free space.' : 'Not persistent: the browser may clear it when space runs low. Sync often.' })),
      h('section', { 'aria-labelledby': 's-signout' }, h('h2', { id: 's-signout', text: 'Sign out' }),
        h('p', { class: 'muted', text: 'Signing out removes your data from this phone.' }),
        h('button', { type: 'button', class: 'danger', onclick: () => signOut() }, 'Sign out')));
  });
  await draw();
  return { refresh: () => draw({ unlessTyping: true }) };
}

function remindersSection(push, redraw) {
  const note = h('p', { id: 'push-state', text: push.text });
  const problem = h('p', { class: 'error', role: 'alert' });
  const act = (work) => async () => {
    problem.textContent = '';
    try {
      await work();
      redraw();
    } catch (error) {
      problem.textContent = error.message;
    }
  };
  return h('section', { 'aria-labelledby': 's-push' }, h('h2', { id: 's-push', text: 'Reminders' }), note,
    push.state === 'off' ? h('button', { type: 'button', onclick: act(turnOn) }, 'Turn on reminders') : null,
    push.state === 'on' ? h('button', { type: 'button', class: 'secondary', onclick: act(turnOff) }, 'Turn off reminders') : null,
    problem);
}

function refusedList(held) {
  if (!held.length) return null;
  return h('div', { class: 'notice bad', id: 'refused-changes' },
    h('h3', { text: 'Changes the server refused' }),
    h('ul', {}, held.map((e) => h('li', {},
      recordHref(e.type, e.id) ? h('a', { href: recordHref(e.type, e.id), text: e.v.name || e.v.title || e.type }) : h('strong', { text: e.type }),
      `: ${(e.errors || []).map((x) => `${x.field}: ${x.message}`).join('; ')}`))));
}

async function signOut() {
  const { pending, held } = await store.counts();
  if (pending + held > 0 && !confirm(`${pending + held} change(s) have not reached the server and will be lost if you sign out now. Sign out anyway?`)) return;
  try {
    await api('POST', '/api/v1/auth/logout');
  } catch (error) {
    toast(`Could not sign out: ${error.message}. Try again with a signal.`, { error: true });
    return;
  }
  await store.wipe();
  location.replace('/login');
}
