"""Demo data: two teams, six logins and a few thousand realistic, consistent CRM records.

`load_demo` is idempotent and writes everything in one write transaction, each record stored
exactly as a REST create would store it (every field of the kind, validated against the API's
create schema, one edit by the server's replica), so the demo can never hold invalid data.

Content is deterministic (seeded; ids are uuid5 names), while dates are anchored to the real
current time so that "due today", "overdue" and "this week" mean something on any day.
Phone numbers are in Ofcom's ranges reserved for drama; domains use the reserved `.example`
top-level domain, so nothing here reaches a real person.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

import sync
from server.db import write_transaction
from server.domain.accounts.services import add_user, get_or_create_team
from server.domain.accounts.tables import User
from server.domain.crm.services import KINDS, SERVER_REPLICA, Kind, index_changes, now_ms, store
from server.domain.crm.tables import Company

PASSWORD = "fieldbook"
NORTH, SOUTH = "North", "South"

#: (email, role, team) of every demo login; all share the password above.
LOGINS: list[tuple[str, str, str | None]] = [
    ("admin@fieldbook.test", "admin", None),
    ("manager@fieldbook.test", "manager", NORTH),
    ("rep@fieldbook.test", "rep", NORTH),
    ("rep2@fieldbook.test", "rep", NORTH),
    ("manager.south@fieldbook.test", "manager", SOUTH),
    ("rep.south@fieldbook.test", "rep", SOUTH),
]

DISPLAY_NAMES = {
    "admin@fieldbook.test": "Alex Morgan",
    "manager@fieldbook.test": "Priya Shah",
    "rep@fieldbook.test": "Tom Whitaker",
    "rep2@fieldbook.test": "Chloe Bennett",
    "manager.south@fieldbook.test": "Daniel Okafor",
    "rep.south@fieldbook.test": "Sophie Turner",
}

SEED = 20261123
COUNTS = {"company": 60, "contact": 600, "deal": 250, "activity": 1500, "task": 300}
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "demo.fieldbook.test")

# -- places -------------------------------------------------------------------------------

#: Per city: the area code of Ofcom's drama range (local numbers 496 0000 to 0999, or 01632
#: 960 000 to 999 where a city has none), and streets with postcode district and coordinates.
_CITIES: dict[str, dict[str, Any]] = {
    "Manchester": {
        "team": NORTH,
        "phone": ("161 496 0", 3),
        "streets": [
            ("Deansgate", "M3", 53.4794, -2.2490),
            ("Portland Street", "M1", 53.4779, -2.2375),
            ("Oxford Road", "M1", 53.4710, -2.2390),
            ("Great Ancoats Street", "M4", 53.4845, -2.2290),
            ("Whitworth Street West", "M1", 53.4740, -2.2440),
            ("King Street", "M2", 53.4811, -2.2449),
            ("Chapel Street", "M3", 53.4850, -2.2560),
            ("Trafford Wharf Road", "M17", 53.4690, -2.2950),
            ("Wilmslow Road", "M20", 53.4160, -2.2310),
        ],
    },
    "Leeds": {
        "team": NORTH,
        "phone": ("113 496 0", 3),
        "streets": [
            ("Wellington Street", "LS1", 53.7960, -1.5550),
            ("Park Row", "LS1", 53.7985, -1.5470),
            ("The Headrow", "LS1", 53.8000, -1.5440),
            ("Kirkstall Road", "LS4", 53.8050, -1.5780),
            ("Water Lane", "LS11", 53.7920, -1.5560),
            ("Roundhay Road", "LS8", 53.8140, -1.5250),
            ("Otley Road", "LS16", 53.8290, -1.5760),
            ("Hunslet Road", "LS10", 53.7880, -1.5350),
        ],
    },
    "London": {
        "team": SOUTH,
        "phone": ("20 7946 0", 3),
        "streets": [
            ("Old Street", "EC1V", 51.5256, -0.0875),
            ("Clerkenwell Road", "EC1M", 51.5228, -0.1020),
            ("Borough High Street", "SE1", 51.5020, -0.0920),
            ("Shoreditch High Street", "E1", 51.5240, -0.0775),
            ("Southwark Street", "SE1", 51.5060, -0.0980),
            ("Tooley Street", "SE1", 51.5040, -0.0830),
            ("Upper Street", "N1", 51.5400, -0.1030),
            ("Camden High Street", "NW1", 51.5390, -0.1425),
            ("Rye Lane", "SE15", 51.4700, -0.0690),
        ],
    },
    "Brighton": {
        "team": SOUTH,
        "phone": ("1632 960 ", 3),
        "streets": [
            ("North Street", "BN1", 50.8235, -0.1410),
            ("Queens Road", "BN1", 50.8265, -0.1415),
            ("Western Road", "BN1", 50.8245, -0.1520),
            ("Church Road", "BN3", 50.8280, -0.1720),
            ("St James's Street", "BN2", 50.8205, -0.1320),
            ("Lewes Road", "BN2", 50.8390, -0.1260),
            ("Dyke Road", "BN1", 50.8330, -0.1500),
            ("Brighton Road", "BN43", 50.8310, -0.2600),
        ],
    },
}

#: Mobile numbers from Ofcom's drama range 07700 900000 to 900999.
_MOBILE_PREFIX = "7700 900"

_COMPANIES: dict[str, list[str]] = {
    "Manchester": [
        "Irwell Precision Engineering Ltd",
        "Ancoats Coffee Roasters",
        "Hartley & Webb Joinery",
        "Castlefield Digital Studio",
        "Medlock Packaging Ltd",
        "Northern Quarter Print Co.",
        "Trafford Fleet Services",
        "Quayside Marine Supplies",
        "Pennine Office Interiors",
        "Chorlton Wholefoods Ltd",
        "Ardwick Steel Fabrications",
        "Mersey Valley Electrical",
        "Didsbury Dental Group",
        "Rusholme Lab Supplies",
        "Red Rose Catering Equipment",
        "Viaduct Brewing Company",
    ],
    "Leeds": [
        "Aire Valley Logistics",
        "Kirkgate Textiles Ltd",
        "Headrow Legal Services LLP",
        "Calder Foods Ltd",
        "Holbeck Robotics",
        "Roundhay Veterinary Practice",
        "Wharfedale Building Supplies",
        "Armley Auto Parts",
        "White Rose Hygiene Ltd",
        "Briggate Optical",
        "Meanwood Garden Centre",
        "Dales Dairy Co-operative",
        "Hunslet Hydraulics",
        "Chapel Allerton Architects",
        "Temple Mill Furniture",
        "Adel Motors",
    ],
    "London": [
        "Bankside Marketing Partners",
        "Shoreditch Cycle Works",
        "Clerkenwell Watch Company",
        "Borough Provisions Ltd",
        "Thames Gateway Freight",
        "Southwark Lighting Ltd",
        "Hackney Wick Ceramics",
        "Farringdon Data Systems",
        "Bermondsey Bakery Supplies",
        "Old Street Analytics",
        "Camden Lock Events",
        "Meridian Marine Insurance",
        "Islington Physio Clinic",
        "Tower Hospitality Group",
        "Docklands Facilities Ltd",
        "Peckham Print House",
    ],
    "Brighton": [
        "Palace Pier Confectionery",
        "Lanes Jewellery Workshop",
        "Kemp Town Dental Care",
        "Hove Lawns Sports Supplies",
        "Sussex Downs Vineyards",
        "North Laine Records",
        "Preston Park Nurseries",
        "Seven Dials Bistro Group",
        "Shoreham Port Chandlery",
        "Whitehawk Electrical Contractors",
        "Regency Square Hotels",
        "South Downs Solar Ltd",
    ],
}

_FIRST_NAMES = (  # noqa: SIM905
    "Oliver Amelia Harry Isla George Ava Noah Mia Jack Ivy Leo Freya Arthur Grace Oscar Lily "
    "Charlie Rosie Jacob Ella Thomas Evie James Sophie William Emily Henry Poppy Joshua Ruby "
    "Samuel Chloe Daniel Jessica Joseph Hannah Ryan Megan Aisha Yusuf Priya Arjun Zara Omar "
    "Fatima Ibrahim Mohammed Amira Kwame Ama Chidi Ngozi Wei Mei Liam Niamh Ciaran Siobhan "
    "Rhys Cerys Callum Eilidh Tomasz Agnieszka Luca Giulia Mateo Lucia Hugo Camille Lars Ingrid"
).split()
_LAST_NAMES = (  # noqa: SIM905
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans "
    "Walker White Roberts Green Hall Wood Jackson Clarke Patel Khan Lewis James Phillips Mason "
    "Mitchell Rose Davis Rodriguez Cox Alexander Morgan Harrison Hughes Edwards Shaw Holmes "
    "Lloyd Barker Atkinson Fletcher Kaur Singh Ahmed Hussain Begum Ali Okafor Mensah Adeyemi "
    "Chen Wong Nguyen Murphy Kelly Byrne O'Brien Campbell Stewart MacLeod Kowalski Nowak Rossi "
    "Bianchi Garcia Martin Dubois Jensen Hansen Whitehead Ackroyd Sutcliffe Pickles Hargreaves"
).split()
_TITLES = [
    "Managing Director",
    "Operations Director",
    "Finance Director",
    "Head of Procurement",
    "Procurement Manager",
    "Purchasing Officer",
    "Office Manager",
    "Facilities Manager",
    "Operations Manager",
    "Production Manager",
    "Warehouse Manager",
    "IT Manager",
    "Head of IT",
    "Marketing Manager",
    "Sales Director",
    "Account Manager",
    "Practice Manager",
    "General Manager",
    "Site Manager",
    "Financial Controller",
    "Buyer",
    "Senior Buyer",
    "Project Manager",
    "Owner",
    "Executive Assistant",
    "Head of Operations",
]
_TAGS = [
    "decision-maker",
    "champion",
    "technical",
    "finance",
    "procurement",
    "newsletter",
    "trade-show",
    "key-account",
    "gatekeeper",
    "referral",
    "renewal-due",
    "prefers-email",
]
_PRODUCTS = [
    "Fleet tracking rollout",
    "Annual service contract",
    "Warehouse scanners",
    "Site survey and install",
    "Handheld terminals",
    "Support renewal",
    "Replacement printers",
    "Cloud migration",
    "Staff training programme",
    "Spare parts framework",
    "Second site expansion",
    "Pilot: 10 devices",
    "Upgrade to premium tier",
    "Maintenance plan",
    "Label printing bundle",
    "Consumables supply",
]
_STAGE_COUNTS = {"lead": 50, "qualified": 45, "proposal": 45, "negotiation": 35, "won": 45, "lost": 30}
_PROBABILITY = {"lead": (5, 15), "qualified": (20, 35), "proposal": (40, 60), "negotiation": (60, 85)}
_DISCOUNTS = ["0", "0", "0", "0", "2.5", "5", "5", "7.5", "10", "10", "12.5", "15"]
_OUTCOMES = {
    "visit": [
        "Walked the site; needs a quote",
        "Demo went well",
        "Met the new buyer",
        "Measured up for install",
        "Dropped off samples",
        "Reviewed the rollout plan",
        "Not in; left a card",
    ],
    "call": [
        "Left voicemail",
        "No answer",
        "Call back next week",
        "Interested; send pricing",
        "Confirmed the order",
        "Budget on hold until next quarter",
        "Booked a site visit",
    ],
    "meeting": [
        "Agreed next steps",
        "Proposal presented",
        "Negotiated terms",
        "Quarterly review done",
        "Needs sign-off from finance",
        "Trial agreed",
    ],
    "note": ["", "", "Follow-up needed", "FYI"],
}
_NOTES = {
    "visit": [
        "Visited {company} and met {first}. They are running the old kit past its life.",
        "Site visit with {first}: the loading bay needs two more devices.",
        "Popped in to {company}; {first} asked about lead times for spares.",
        "Walked the warehouse with {first}. Good fit for the premium plan.",
        "Quick visit to {company}. Reception was busy; {first} will call back.",
    ],
    "call": [
        "Spoke to {first} about renewal dates.",
        "Called {first}: wants the price list for next year.",
        "{first} asked for a breakdown of the discount.",
        "Chased {first} about the purchase order.",
        "Rang {company} switchboard, put through to {first}.",
    ],
    "meeting": [
        "Meeting with {first} and their finance lead at {company}.",
        "Video call with {first} to go through the proposal line by line.",
        "Quarterly review with {company}: usage is up 20%.",
        "Lunch meeting with {first}; competitor is offering a lower day rate.",
    ],
    "note": [
        "{first} is on holiday until the end of the month.",
        "{company} is moving to a new site in the spring.",
        "Prefers email to phone calls.",
        "New head of purchasing started at {company}.",
        "Invoice query resolved by accounts.",
    ],
}
_DURATION = {"visit": (20, 90), "call": (2, 30), "meeting": (30, 120)}
_TASK_TITLES = {
    "contact": ["Call back {first}", "Send brochure to {first}", "Book a visit with {first}", "Check in with {first}"],
    "company": ["Update details for {company}", "Plan account review for {company}", "Ask {company} for a reference"],
    "deal": ["Send proposal: {deal}", "Chase PO for {deal}", "Follow up on {deal}", "Prepare pricing for {deal}"],
    None: ["Submit expenses", "Plan next week's route", "Update the pipeline forecast", "Order more brochures"],
}
_POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


# -- building -------------------------------------------------------------------------------


@dataclass
class _Person:
    id: int
    role: str
    team: int


@dataclass
class _Rec:
    """What the generator remembers of a record to build the ones that refer to it."""

    id: str
    team: int
    name: str
    owner: int | None = None
    company: _Rec | None = None
    lat: float | None = None
    lon: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _id(kind: str, n: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}/{n}"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _near(rng: random.Random, lat: float, lon: float, metres: float) -> tuple[float, float]:
    """A point within about `metres` of (lat, lon)."""
    r = metres * math.sqrt(rng.random())
    a = rng.random() * 2 * math.pi
    dlat = r * math.cos(a) / 111_320
    dlon = r * math.sin(a) / (111_320 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


class _Numbers:
    """Unique numbers from the drama ranges, drawn without replacement."""

    def __init__(self, rng: random.Random) -> None:
        self.pools: dict[str, list[str]] = {}
        for city, info in _CITIES.items():
            prefix, digits = info["phone"]
            pool = [f"+44 {prefix}{n:0{digits}d}" for n in range(10**digits)]
            rng.shuffle(pool)
            self.pools[city] = pool
        mobiles = [f"+44 {_MOBILE_PREFIX}{n:03d}" for n in range(1000)]
        rng.shuffle(mobiles)
        self.pools["mobile"] = mobiles

    def take(self, pool: str) -> str:
        return self.pools[pool].pop()


class _Clock:
    """Times relative to now: business hours on working days, in UTC."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now.astimezone(dt.UTC)
        self.today = self.now.date()

    def at(self, day_offset: int, minutes: int) -> dt.datetime:
        """A working-day time `day_offset` days from today, `minutes` after 00:00 UTC."""
        day = self.today + dt.timedelta(days=day_offset)
        if day.weekday() == 5:
            day -= dt.timedelta(days=1)
        elif day.weekday() == 6:
            day += dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(minutes=minutes)

    def past(self, day_offset: int, minutes: int) -> dt.datetime:
        """Like `at` for a day in the past (offset <= 0), moved a week back if not yet past."""
        when = self.at(day_offset, minutes)
        while when > self.now:
            when -= dt.timedelta(days=7)
        return when


def _iso(value: dt.datetime) -> str:
    return value.isoformat()


class _Builder:
    def __init__(self, teams: dict[str, int], people: dict[str, list[_Person]], now: dt.datetime) -> None:
        self.rng = random.Random(SEED)
        self.teams = teams
        self.people = people  # team name -> members
        self.clock = _Clock(now)
        self.numbers = _Numbers(self.rng)
        self.companies: list[_Rec] = []
        self.contacts: list[_Rec] = []
        self.deals: list[_Rec] = []
        self.by_team: dict[int, dict[str, list[_Rec]]] = {
            t: {"company": [], "contact": [], "deal": []} for t in teams.values()
        }
        self.members: dict[int, list[_Person]] = {teams[name]: ps for name, ps in people.items()}

    # Each method returns (kind name, id, values) in creation order.

    def _account_owner(self, team: int) -> _Person:
        members = self.members[team]
        weights = [1 if p.role == "manager" else 2 for p in members]
        return self.rng.choices(members, weights)[0]

    def _postcode(self, district: str) -> str:
        rng = self.rng
        return f"{district} {rng.randint(1, 9)}{rng.choice(_POSTCODE_LETTERS)}{rng.choice(_POSTCODE_LETTERS)}"

    def companies_(self) -> list[tuple[str, str, dict[str, Any]]]:
        rng = self.rng
        out = []
        n = 0
        for city, names in _COMPANIES.items():
            info = _CITIES[city]
            team = self.teams[info["team"]]
            for name in names:
                street, district, lat, lon = rng.choice(info["streets"])
                lat, lon = _near(rng, lat, lon, 700)
                address = f"{rng.randint(1, 240)} {street}, {city} {self._postcode(district)}"
                words = [w for w in _slug(name).split("-") if w not in {"ltd", "llp", "co", "group", "company"}]
                domain = "-".join(words[:2]) + ".example"
                rec = _Rec(_id("company", n), team, name, owner=self._account_owner(team).id, lat=lat, lon=lon)
                rec.extra = {"city": city, "domain": domain, "address": address, "eur": rng.random() < 0.15}
                values = {
                    "name": name,
                    "team": team,
                    "phone": self.numbers.take(city),
                    "email": f"{rng.choice(['info', 'hello', 'enquiries', 'office'])}@{domain}",
                    "website": f"https://www.{domain}",
                    "address": address,
                    "latitude": lat,
                    "longitude": lon,
                    "notes": rng.choice(
                        [
                            "",
                            "",
                            f"Head office in {city}.",
                            "Pays on 30-day terms.",
                            "Part of a larger group; purchasing is centralised.",
                            "Family business, second generation.",
                            "Busy season is October to December.",
                        ]
                    ),
                }
                self.companies.append(rec)
                self.by_team[team]["company"].append(rec)
                out.append(("company", rec.id, values))
                n += 1
        return out

    def contacts_(self) -> list[tuple[str, str, dict[str, Any]]]:
        rng = self.rng
        total = COUNTS["contact"]
        # Bigger companies get more people; every company gets at least three.
        weights = [rng.uniform(0.5, 2.0) for _ in self.companies]
        spare = total - 3 * len(self.companies)
        shares = [3 + int(spare * w / sum(weights)) for w in weights]
        for i in range(total - sum(shares)):
            shares[i % len(shares)] += 1
        out = []
        n = 0
        for company, count in zip(self.companies, shares):
            used: set[str] = set()
            for _ in range(count):
                first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
                local = _slug(f"{first}.{last}").replace("-", ".")
                while local in used:
                    local = f"{local}{rng.randint(2, 9)}"
                used.add(local)
                phones = []
                if rng.random() < 0.7:
                    phones.append(self.numbers.take(company.extra["city"]))
                if rng.random() < 0.6 or not phones:
                    phones.append(self.numbers.take("mobile"))
                emails = [f"{local}@{company.extra['domain']}"]
                lat, lon = _near(rng, company.lat, company.lon, 40)  # type: ignore[arg-type]
                name = f"{first} {last}"
                rec = _Rec(_id("contact", n), company.team, name, company=company, lat=lat, lon=lon)
                rec.extra = {"first": first}
                values = {
                    "name": name,
                    "team": company.team,
                    "title": rng.choice(_TITLES),
                    "company": company.id,
                    "phones": phones,
                    "emails": emails,
                    "address": company.extra["address"],
                    "latitude": lat,
                    "longitude": lon,
                    "tags": sorted(rng.sample(_TAGS, rng.choice([0, 0, 1, 1, 1, 2, 2, 3]))),
                    "notes": rng.choice(
                        ["", "", "", "Best reached before 10am.", "Works Tuesday to Thursday.", "Met at the trade show."]
                    ),
                }
                self.contacts.append(rec)
                self.by_team[company.team]["contact"].append(rec)
                company.extra.setdefault("contacts", []).append(rec)
                out.append(("contact", rec.id, values))
                n += 1
        return out

    def deals_(self) -> list[tuple[str, str, dict[str, Any]]]:
        rng = self.rng
        stages = [stage for stage, count in _STAGE_COUNTS.items() for _ in range(count)]
        rng.shuffle(stages)
        out = []
        for n, stage in enumerate(stages):
            company = rng.choice(self.companies)
            contact = rng.choice(company.extra["contacts"])
            owner = company.owner if rng.random() < 0.85 else self._account_owner(company.team).id
            amount = round(math.exp(rng.uniform(math.log(1500), math.log(120_000))) / 50) * 50
            if stage in ("won", "lost"):
                close = self.clock.today - dt.timedelta(days=rng.randint(1, 120))
                probability = 100 if stage == "won" else 0
            else:
                close = self.clock.today + dt.timedelta(days=rng.randint(-7, 150))
                probability = rng.randint(*_PROBABILITY[stage])
            short = re.sub(r"\s+(Ltd|LLP|Co\.|Group|Company)$", "", company.name)
            title = f"{short}: {rng.choice(_PRODUCTS)}"
            rec = _Rec(_id("deal", n), company.team, title, owner=owner, company=company)
            values = {
                "title": title,
                "owner": owner,
                "company": company.id,
                "contact": contact.id if rng.random() < 0.9 else None,
                "stage": stage,
                "amount": f"{amount}.00",
                "currency": "EUR" if company.extra["eur"] else "GBP",
                "discount": rng.choice(_DISCOUNTS),
                "expected_close": close.isoformat(),
                "probability": probability,
                "notes": rng.choice(["", "", "Competing with an incumbent supplier.", "Budget approved.", "Needs board sign-off."]),
            }
            self.deals.append(rec)
            self.by_team[company.team]["deal"].append(rec)
            company.extra.setdefault("deals", []).append(rec)
            out.append(("deal", rec.id, values))
        return out

    def activities_(self) -> list[tuple[str, str, dict[str, Any]]]:
        rng = self.rng
        out = []
        for n in range(COUNTS["activity"]):
            contact = rng.choice(self.contacts)
            company = contact.company
            assert company is not None
            owner = company.owner if rng.random() < 0.8 else self._account_owner(company.team).id
            kind = rng.choices(["visit", "call", "meeting", "note"], [30, 40, 15, 15])[0]
            # Recent days are busier; times are 08:00 to 17:30 (UTC, close to UK hours).
            days = -int(rng.triangular(0, 90, 0))
            when = self.clock.past(days, rng.randrange(8 * 60, 17 * 60 + 30, 5))
            deals = [d for d in company.extra.get("deals", []) if d.owner == owner]
            deal = rng.choice(deals) if deals and rng.random() < 0.5 else None
            about_contact = kind != "note" or rng.random() < 0.6
            words = {"first": contact.extra["first"], "company": company.name}
            values: dict[str, Any] = {
                "kind": kind,
                "occurred_at": _iso(when),
                "owner": owner,
                "contact": contact.id if about_contact else None,
                "company": company.id,
                "deal": deal.id if deal else None,
                "notes": rng.choice(_NOTES[kind]).format(**words),
                "outcome": rng.choice(_OUTCOMES[kind]),
                "latitude": None,
                "longitude": None,
                "accuracy": None,
                "duration": rng.randint(*_DURATION[kind]) if kind in _DURATION else None,
            }
            if kind == "visit":
                lat, lon = _near(rng, company.lat, company.lon, 60)  # type: ignore[arg-type]
                values.update(latitude=lat, longitude=lon, accuracy=round(rng.uniform(3, 65), 1))
            out.append(("activity", _id("activity", n), values))
        return out

    def tasks_(self) -> list[tuple[str, str, dict[str, Any]]]:
        rng = self.rng
        out = []
        teams = list(self.members)
        for n in range(COUNTS["task"]):
            team = rng.choices(teams, [len(self.by_team[t]["contact"]) for t in teams])[0]
            assignee = self._account_owner(team)
            managers = [p for p in self.members[team] if p.role == "manager"]
            owner = assignee if assignee.role == "manager" or rng.random() < 0.7 else rng.choice(managers)
            related_type = rng.choices(["contact", "company", "deal", None], [40, 20, 30, 10])[0]
            related = None
            if related_type == "deal":
                # Everyone the task concerns must be able to see the deal: a rep sees only their own.
                pool = [d for d in self.by_team[team]["deal"] if assignee.role == "manager" or d.owner == assignee.id]
                if pool:
                    related = rng.choice(pool)
                else:
                    related_type = "contact"
            if related_type in ("contact", "company"):
                related = rng.choice(self.by_team[team][related_type])
            words = {"first": "", "company": "", "deal": ""}
            if related_type == "contact":
                words.update(first=related.name, company=related.company.name)  # type: ignore[union-attr]
            elif related_type == "company":
                words.update(company=related.name)  # type: ignore[union-attr]
            elif related_type == "deal":
                words.update(deal=related.name)  # type: ignore[union-attr]
            due = self.clock.at(rng.randint(-10, 20), rng.randrange(9 * 60, 17 * 60, 15))
            remind = due - dt.timedelta(minutes=rng.choice([15, 30, 60, 24 * 60])) if rng.random() < 0.5 else None
            done = None
            if rng.random() < 0.2:
                done = min(due + dt.timedelta(minutes=rng.randint(-2 * 24 * 60, 24 * 60)), self.clock.now - dt.timedelta(minutes=5))
            values = {
                "title": rng.choice(_TASK_TITLES[related_type]).format(**words),
                "owner": owner.id,
                "assignee": assignee.id,
                "due_at": _iso(due),
                "remind_at": _iso(remind) if remind else None,
                "related_type": related_type,
                "related_id": related.id if related else None,
                "done_at": _iso(done) if done else None,
                "notes": rng.choice(["", "", "", "Ask about the second site.", "Bring the new price list."]),
            }
            out.append(("task", _id("task", n), values))
        return out

    def approvals_(self, deals: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, str, dict[str, Any]]]:
        """Big deals a rep closed were approved by their manager; a few discounts wait for one."""
        out = []
        reps = {p.id: p for people in self.people.values() for p in people if p.role == "rep"}
        waiting = {team: 0 for team in self.teams.values()}
        for rec, (_, deal_id, values) in zip(self.deals, deals):
            rep = reps.get(values["owner"])
            if rep is None:
                continue
            manager = next(p for p in self.members[rep.team] if p.role == "manager")
            base = {"deal": deal_id, "owner": rep.id, "deal_vv": {"s": 1}, "snapshot": {k: values[k] for k in ("stage", "amount", "currency", "discount", "expected_close")}}
            if values["stage"] == "won" and float(values["amount"]) > 50_000:
                out.append(("approval", _id("approval", len(out)), {**base, "reason": "Signing at this price this week.", "status": "approved", "decided_by": manager.id, "comment": "Approved: good margin."}))
            elif values["stage"] == "negotiation" and waiting[rep.team] < 3:
                waiting[rep.team] += 1
                reason = f"{rec.name.split(':')[0]} will sign this month at 20 % off."
                out.append(("approval", _id("approval", len(out)), {**base, "reason": reason, "changes": {"discount": "20"}}))
        return out

    def all(self) -> list[tuple[str, str, dict[str, Any]]]:
        # Referenced records first: search indexing reads the names of what a record points at.
        companies, contacts = self.companies_(), self.contacts_()
        deals = self.deals_()
        return [*companies, *contacts, *deals, *self.approvals_(deals), *self.activities_(), *self.tasks_()]


def _as_created(kind: Kind, values: dict[str, Any]) -> dict[str, Any]:
    """The values a REST create would store: validated by the create schema, every field written."""
    data = msgspec.to_builtins(msgspec.convert(values, kind.create))
    data.pop("id", None)
    return data


def build_records(teams: dict[str, int], people: dict[str, list[_Person]], now: dt.datetime) -> list[tuple[Kind, str, dict[str, Any]]]:
    """Every demo record as (kind, id, values), validated, in the order to store them."""
    return [(KINDS[k], rid, _as_created(KINDS[k], v)) for k, rid, v in _Builder(teams, people, now).all()]


async def load_demo(if_empty: bool = False) -> bool:
    """Create the demo teams, users and records; False (and nothing changed) if already there.

    With `if_empty`, any existing user counts as "already there" (for a first start of a fresh
    install). Everything happens in one write transaction, so a failure leaves nothing behind.
    """
    engine = Company._meta.db
    async with write_transaction(engine) as tx:
        if if_empty:
            if await User.count() > 0:
                return False
        elif await User.exists().where(User.email.is_in([email for email, _, _ in LOGINS])):
            return False
        teams = {name: await get_or_create_team(name) for name in (NORTH, SOUTH)}
        people: dict[str, list[_Person]] = {NORTH: [], SOUTH: []}
        for email, role, team in LOGINS:
            user_id = await add_user(email, PASSWORD, role, team, DISPLAY_NAMES[email])
            if team is not None:
                people[team].append(_Person(user_id, role, teams[team]))
        at = now_ms()
        for kind, record_id, values in build_records(teams, people, dt.datetime.now(dt.UTC)):
            state = sync.edit(sync.new(kind.name, record_id), SERVER_REPLICA, values, at)
            await store(kind, state, tx, None)
    # Searchable at once, before the server's first start.
    await index_changes(engine)
    return True
