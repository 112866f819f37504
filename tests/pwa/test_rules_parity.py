"""The approval rules give the same answer on the phone (pwa/js/rules.js, run under node) as on the server."""

from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from server.domain.approvals.services import rule_errors

RULES_JS = Path(__file__).resolve().parents[2] / "pwa" / "js" / "rules.js"

# (visible values after the write, fields written, max discount, won amount limit)
CASES = [
    ({"discount": "25"}, ["discount"], "15", "50000"),
    ({"discount": "15"}, ["discount"], "15", "50000"),
    ({"discount": "15.01"}, ["discount"], "15", "50000"),
    ({"discount": "15.00"}, ["discount"], "15.0", "50000"),
    ({"discount": "9.5"}, ["discount"], "10", "50000"),
    ({"discount": "20"}, ["notes"], "15", "50000"),
    ({"discount": None}, ["discount"], "15", "50000"),
    ({"discount": "100"}, ["discount"], "12.50", "50000"),
    ({"stage": "won", "amount": "80000"}, ["stage"], "15", "50000"),
    ({"stage": "won", "amount": "50000.00"}, ["stage"], "15", "50000"),
    ({"stage": "won", "amount": "50000.01"}, ["amount"], "15", "50000"),
    ({"stage": "won", "amount": "80000"}, ["stage", "amount"], "15", "50000"),
    ({"stage": "won", "amount": "80000"}, ["title"], "15", "50000"),
    ({"stage": "lost", "amount": "80000"}, ["stage"], "15", "50000"),
    ({"stage": "won", "amount": None}, ["stage"], "15", "50000"),
    ({"stage": "won", "amount": "999999999999.99", "discount": "30"}, ["stage", "discount"], "15", "20000.00"),
    ({"stage": "won", "amount": "30000"}, ["stage"], "15", "20000"),
    ({"stage": "won", "amount": "9"}, ["stage"], "15", "10"),
]

NODE = """
import { ruleErrors } from %s;
const cases = JSON.parse(process.argv[1]);
console.log(JSON.stringify(cases.map(([values, written, max_discount, won_amount_limit]) =>
  ruleErrors(values, written, { max_discount, won_amount_limit }))));
"""


def test_phone_and_server_rules_agree() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: run `make system-packages` (Debian's nodejs package)")
    script = NODE % json.dumps(RULES_JS.as_uri())
    done = subprocess.run([node, "--input-type=module", "-e", script, json.dumps(CASES)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    phone = json.loads(done.stdout)
    server = [[list(e) for e in rule_errors(values, written, Decimal(d), Decimal(w))] for values, written, d, w in CASES]
    assert phone == server
    # The cases above are worth having: both kinds of refusal occur, and so do allowed writes.
    assert {e[0] for errors in server for e in errors} == {"discount", "stage", "amount"}
    assert [] in server
