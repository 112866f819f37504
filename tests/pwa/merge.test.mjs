// Runs the shared vectors of tests/sync_vectors/ against the phone's merge (SYNC.md invariant 7).
// node --test tests/pwa/  (no npm needed)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

import {
  canonicalJson, conflicts, deleteConflict, deleteRecord, edit, isDeleted, merge, newRecord, visible,
} from '../../pwa/js/sync-core.js';

const here = dirname(fileURLToPath(import.meta.url));
const dir = join(here, '..', 'sync_vectors');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

function mergeAll(states) {
  return (states.length > 1 ? states : [states[0], states[0]]).reduce((a, b) => merge(a, b));
}

function mergeAllRight(states) {
  return (states.length > 1 ? states : [states[0], states[0]]).reduceRight((b, a) => merge(a, b));
}

function* permutations(items) {
  if (items.length <= 1) { yield items; return; }
  for (let i = 0; i < items.length; i += 1) {
    const rest = [...items.slice(0, i), ...items.slice(i + 1)];
    for (const p of permutations(rest)) yield [items[i], ...p];
  }
}

function runOps(c) {
  const named = { new: newRecord(c.record.type, c.record.id), ...(c.states || {}) };
  for (const op of c.ops || []) {
    assert.ok(!(op.as in named), `${op.as} named twice`);
    if (op.op === 'edit') named[op.as] = edit(named[op.from], op.replica, op.fields, op.t);
    else if (op.op === 'delete') named[op.as] = deleteRecord(named[op.from], op.replica, op.t);
    else if (op.op === 'merge') named[op.as] = mergeAll(op.from.map((n) => named[n]));
    else throw new Error(`unknown op ${op.op}`);
  }
  return named;
}

// Canonical states compare as JSON text: key order inside values carries no meaning.
const same = (got, want, what) => assert.equal(canonicalJson(got), canonicalJson(want), what);

assert.ok(files.length >= 40, `expected at least 40 vectors, found ${files.length}`);

for (const file of files) {
  const c = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  test(c.name, () => {
    assert.equal(`${c.name}.json`, file);
    const named = runOps(c);
    for (const [name, want] of Object.entries(c.expect_states || {})) {
      same(mergeAll([named[name]]), want, `state ${name}`);
      same(named[name].vv, want.vv, `vv of ${name}`);
    }
    const inputs = c.merge.map((n) => named[n]);
    const orders = [...permutations(inputs)].slice(0, 720);
    for (const order of orders) {
      same(mergeAll(order), c.expect.state, 'merged state (left fold)');
      same(mergeAllRight(order), c.expect.state, 'merged state (right fold)');
    }
    const merged = mergeAll(inputs);
    assert.deepEqual(Object.keys(merged.vv), Object.keys(merged.vv).sort());
    for (const input of inputs) same(merge(merged, input), merged, 'merging an input again changes nothing');
    same(visible(merged), c.expect.visible, 'visible values');
    assert.equal(isDeleted(merged), c.expect.is_deleted, 'is_deleted');
    assert.deepEqual(Object.keys(conflicts(merged)), c.expect.conflicts, 'conflicts');
    assert.equal(deleteConflict(merged), c.expect.delete_conflict, 'delete_conflict');
  });
}
