// Companies: the team's accounts, filtered as you type.

import * as store from './store.js';
import { h, clear, field } from './ui.js';

export async function render(main) {
  const input = h('input', { type: 'search', id: 'company-search', autocomplete: 'off' });
  const list = h('ul', { class: 'list', id: 'company-list' });
  clear(main,
    h('div', { class: 'head' }, h('h1', { text: 'Companies' }), h('a', { class: 'button small', href: '#/companies/new' }, 'New company')),
    h('form', { role: 'search', class: 'search', onsubmit: (e) => e.preventDefault() }, field('Search companies', input)),
    list);
  let all = [];
  const draw = () => {
    const q = input.value.trim().toLocaleLowerCase();
    const hits = q ? all.filter((e) => `${e.v.name} ${e.v.address}`.toLocaleLowerCase().includes(q)) : all;
    clear(list, hits.map((e) => h('li', { class: 'row' },
      h('a', { class: 'row-main', href: `#/companies/${e.id}` }, h('strong', { text: e.v.name }), h('span', { class: 'muted', text: e.v.address || '' })))));
  };
  const load = async () => { all = await store.listEntries('company'); draw(); };
  input.addEventListener('input', draw);
  await load();
  return { refresh: load };
}
