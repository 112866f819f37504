"""Tables of the synced records: queryable visible values beside the full sync state."""

from piccolo.columns import (
    UUID,
    BigInt,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from server.domain.accounts.tables import Team, User

STAGES = ("lead", "qualified", "proposal", "negotiation", "won", "lost")
ACTIVITY_KINDS = ("visit", "call", "meeting", "note")
APPROVAL_STATUSES = ("pending", "approved", "rejected", "stale")


class SyncClock(Table, tablename="sync_clock"):
    """One row: the last change sequence number handed out (see server.db.write_transaction),
    and the last one the search index has taken in (see crm.services.index_changes)."""

    id = Serial(primary_key=True)
    value = BigInt(default=0)
    indexed = BigInt(default=0)


class SyncedRecord:
    """Columns every synced record has. References between records are plain UUID columns,
    checked by the services, because a phone may push them in any order."""

    id = UUID(primary_key=True)
    #: The record's whole sync state as wire JSON: {"type", "id", "vv", "fields"}.
    state = Text()
    #: The REST answer for the record, made when it is written, so reads send it as it is.
    view = Text(default="")
    #: Change sequence number, from sync_clock; pulls page on it.
    seq = BigInt(index=True)
    #: True when the SYNC.md delete rule holds; deleted rows stay as tombstones.
    deleted = Boolean(default=False)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Company(SyncedRecord, Table, tablename="company"):
    team = ForeignKey(references=Team, on_delete=OnDelete.restrict)
    name = Varchar(length=200, index=True)
    phone = Varchar(length=40, default="")
    email = Varchar(length=320, default="")
    website = Varchar(length=300, default="")
    address = Text(default="")
    latitude = Float(null=True, default=None)
    longitude = Float(null=True, default=None)


class Contact(SyncedRecord, Table, tablename="contact"):
    team = ForeignKey(references=Team, on_delete=OnDelete.restrict)
    name = Varchar(length=200, index=True)
    title = Varchar(length=200, default="")
    company = UUID(null=True, default=None, index=True)
    #: The first phone and email, for lists; all of them live in the state.
    phone = Varchar(length=40, default="")
    email = Varchar(length=320, default="")
    latitude = Float(null=True, default=None)
    longitude = Float(null=True, default=None)


class Deal(SyncedRecord, Table, tablename="deal"):
    owner = ForeignKey(references=User, on_delete=OnDelete.restrict)
    title = Varchar(length=200, index=True)
    company = UUID(null=True, default=None, index=True)
    contact = UUID(null=True, default=None, index=True)
    stage = Varchar(length=16, index=True)  #: one of STAGES
    amount = Numeric(digits=(14, 2), null=True, default=None)
    currency = Varchar(length=3, default="EUR")
    expected_close = Date(null=True, default=None, index=True)


class Activity(SyncedRecord, Table, tablename="activity"):
    owner = ForeignKey(references=User, on_delete=OnDelete.restrict)
    kind = Varchar(length=16, index=True)  #: one of ACTIVITY_KINDS
    occurred_at = Timestamptz(index=True)
    contact = UUID(null=True, default=None, index=True)
    company = UUID(null=True, default=None, index=True)
    deal = UUID(null=True, default=None, index=True)


class Task(SyncedRecord, Table, tablename="task"):
    owner = ForeignKey(references=User, on_delete=OnDelete.restrict)
    assignee = ForeignKey(references=User, on_delete=OnDelete.restrict)
    title = Varchar(length=200)
    due_at = Timestamptz(null=True, default=None, index=True)
    remind_at = Timestamptz(null=True, default=None, index=True)
    done_at = Timestamptz(null=True, default=None)
    related_type = Varchar(length=16, null=True, default=None)
    related_id = UUID(null=True, default=None, index=True)


class Approval(SyncedRecord, Table, tablename="approval"):
    #: The requesting rep; visibility follows them like a deal's owner.
    owner = ForeignKey(references=User, on_delete=OnDelete.restrict)
    deal = UUID(index=True)
    status = Varchar(length=16, index=True)  #: one of APPROVAL_STATUSES
    decided_by = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.restrict)


class SearchEntry(Table, tablename="search_entry"):
    """The text that search matches for a record; the full-text index over it is engine-specific
    (FTS5 on SQLite, a GIN tsvector index on PostgreSQL) and made by migration."""

    id = Serial(primary_key=True)
    record_type = Varchar(length=16)
    record_id = UUID(unique=True)
    body = Text()


SYNCED_TABLES: dict[str, type[Table]] = {
    "company": Company,
    "contact": Contact,
    "deal": Deal,
    "activity": Activity,
    "task": Task,
    "approval": Approval,
}


class AudienceChange(Table, tablename="audience_change"):
    """Who could see a record before its team, owner or assignee changed: pull's `gone` list is
    the records whose old audience held the puller and whose new one does not."""

    id = Serial(primary_key=True)
    seq = BigInt(index=True)  #: the change that moved the record
    record_type = Varchar(length=16)
    record_id = UUID()
    #: The record's team before: its own for companies and contacts, its owner's otherwise.
    prev_team = Integer(null=True, default=None)
    prev_owner = Integer(null=True, default=None)
    prev_assignee = Integer(null=True, default=None)
    prev_assignee_team = Integer(null=True, default=None)
