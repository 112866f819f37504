// Contacts: the list, painted from the first stored page at once, and instant offline search.

import * as store from './store.js';
import { h, clear, field, telHref } from './ui.js';

// Rows drawn at once: a phone screen shows about eight, and every row drawn costs a keystroke time.
const SHOWN = 50;

// What a query is matched against: name, company, e-mail and title as folded text; phones as digits.
export function searchIndex(contacts, companies) {
  const names = new Map(companies.map((c) => [c.id, c.v.name]));
  return contacts.map((e) => {
    const v = e.v;
    const company = names.get(v.company) || '';
    return {
      e,
      company,
      text: store.fold([v.name, company, ...(v.emails || []), v.title, ...(v.tags || [])].join(' ')),
      digits: (v.phones || []).map((p) => p.replace(/\D/g, '')).join(' '),
    };
  });
}

export function search(index, query) {
  const terms = store.fold(query).split(/\s+/).filter(Boolean);
  if (!terms.length) return index;
  return index.filter((row) => terms.every((t) => {
    if (row.text.includes(t)) return true;
    const digits = t.replace(/[^0-9]/g, '');
    return digits.length >= 3 && digits.length === t.replace(/[\s()+./-]/g, '').length && row.digits.includes(digits);
  }));
}

function item(row) {
  const v = row.e.v;
  const phone = (v.phones || [])[0];
  return h('li', { class: 'row' },
    h('a', { class: 'row-main', href: `#/contacts/${row.e.id}` },
      h('strong', { text: v.name }),
      h('span', { class: 'muted', text: [v.title, row.company].filter(Boolean).join(' · ') })),
    phone ? h('a', { class: 'icon-button', href: telHref(phone), 'aria-label': `Call ${v.name}` }, '☎') : null);
}

export async function render(main, { params }) {
  const input = h('input', { type: 'search', id: 'contact-search', autocomplete: 'off', enterkeyhint: 'search', placeholder: 'Name, company, phone or e-mail', value: params.q || '' });
  const count = h('p', { class: 'muted', id: 'contact-count', 'aria-live': 'polite' });
  const list = h('ul', { class: 'list', id: 'contact-list' });
  clear(main,
    h('div', { class: 'head' }, h('h1', { text: 'Contacts' }), h('a', { class: 'button small', href: '#/contacts/new' }, 'New contact')),
    h('form', { role: 'search', class: 'search', onsubmit: (e) => e.preventDefault() }, field('Search contacts', input)),
    count, list);

  let index = null;
  let drawn = '';
  const draw = (rows, total) => {
    const shown = rows.slice(0, SHOWN);
    const key = `${total}:${shown.map((r) => r.e.id).join(',')}`;
    if (key !== drawn) {
      drawn = key;
      clear(list, shown.map(item));
    }
    const more = total > SHOWN ? `, first ${SHOWN} shown` : '';
    count.textContent = index ? `${total.toLocaleString()} contact${total === 1 ? '' : 's'}${input.value.trim() ? ' found' : ''}${more}` : 'Loading all contacts…';
  };
  const run = () => {
    if (!index) return;
    const hits = search(index, input.value);
    draw(hits, hits.length);
  };

  // Paint the first page straight from the index, then load everything for search.
  const [first, companies] = await Promise.all([store.listEntries('contact', { limit: SHOWN }), store.listEntries('company')]);
  if (!index) draw(searchIndex(first, companies), first.length);
  const load = async () => {
    const [all, comps] = await Promise.all([store.listEntries('contact'), store.listEntries('company')]);
    index = searchIndex(all, comps);
    drawn = ''; // the same rows may now carry newer values
    run();
  };
  // Everything else is read once the first rows are on screen, so it never delays them.
  requestAnimationFrame(() => setTimeout(load, 0));
  input.addEventListener('input', run);
  return { refresh: load };
}
