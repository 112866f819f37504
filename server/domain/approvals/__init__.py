"""Manager approvals: per-team rules, decisions bound to a deal version, and the deal audit trail."""
