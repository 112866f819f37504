"""The CRM records that sync: companies, contacts, deals, activities, tasks, approvals."""
