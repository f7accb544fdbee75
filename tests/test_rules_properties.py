"""Property-based tests of the business rules: on randomly generated tenants — items, customers,
interactions, flags, geo restrictions, consents, erasures and rules — no served row breaks a
rule, and every customer who gets a discover list gets k items whenever k allowed items exist.
The lists the Python API makes at query time (recsql.open: context items, unknown visitors)
break no rule either.

The checker restates the rules (issue 4, docs/rules.md) in plain Python over the generated
inputs and reads only the published views: it shares no SQL with the pipeline, so a mistake in
a rule model or macro is not repeated by the test that should catch it.

Each hypothesis example is one build of a thousand tiny tenants (a build costs half a minute,
a tenant almost nothing); the examples together cover several thousand. Hypothesis draws a seed
from which every tenant is generated, and the rules for every tenant (``'*'``). Each tenant
draws its own mix of categories and rule actions ("swarm testing") and has about k items, so
that lists are often just fillable: where a rule is applied wrongly, a list comes out short.
Tenants never see each other's rows, so a violation is reproduced by its tenant alone: the
failure message prints that tenant's inputs. Shrinking is off (each step would be a build).
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import recsql
from recsql.build import BuildFailed, work_dir_for
from tests.conftest import AS_OF, query

pytestmark = pytest.mark.slow

#: Tenants per build, and builds (hypothesis examples): together at least MIN_TENANTS. One
#: build of 1,000 tenant worlds (each tenant its own random world with 0-3 rules; the build's
#: 0-3 `*` rules drawn once) keeps the suite inside CI's 20 minutes (a build is ~90 s on 2
#: cores); raise BUILDS locally to draw more `*`-rule combinations.
TENANTS_PER_BUILD = 1000
BUILDS = 1
MIN_TENANTS = 1_000

BUILD_TIME = datetime.fromisoformat(AS_OF)
TODAY = BUILD_TIME.date()

CATEGORIES = ("alcohol", "betting", "food", "books", None)
BRANDS = ("acme", "globex", None)
CUSTOMER_COUNTRIES = ("DE", "FR", "US", None)
RESTRICTION_COUNTRIES = ("DE", "FR", "US", "CH")
FLAGS = ("no_alcohol", "vulnerable")
ACTIONS = ("exclude", "include_only", "boost", "cap", "nothing")
#: Birth dates around the age limits (18 exactly on the build day, 17 for one more day).
BIRTH_DATES = (
    date(2008, 1, 1),
    date(2008, 1, 2),
    date(2010, 6, 15),
    date(2001, 3, 3),
    date(2000, 12, 31),
    date(1980, 5, 5),
    date(1955, 11, 30),
)

T = TypeVar("T")

# =================================================================================================
# Choices: the same generators run on hypothesis draws or on a seeded random.Random
# =================================================================================================


class Chooser(Protocol):
    def pick(self, options: Sequence[T]) -> T: ...
    def number(self, low: int, high: int) -> int: ...
    def chance(self, percent: int) -> bool: ...


class RandomChooser:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def number(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def chance(self, percent: int) -> bool:
        return self.rng.randrange(100) < percent


class DrawChooser:
    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]):
        self.draw = draw

    def pick(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def number(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def chance(self, percent: int) -> bool:
        # Shrinks towards "no": the rarer, special case is the one to explain.
        return self.draw(st.integers(0, 99)) >= 100 - percent


# =================================================================================================
# Conditions: SQL text for the rules table, and the same meaning in Python (SQL's NULL logic)
# =================================================================================================

Truth = bool | None  # None is SQL's NULL: "unknown", which matches nobody


@dataclass(frozen=True)
class Condition:
    sql: str
    holds: Callable[[Mapping[str, Any]], Truth] = field(compare=False, repr=False)

    def matches(self, row: Mapping[str, Any]) -> bool:
        return self.holds(row) is True


def _compare(column: str, test: Callable[[Any], bool]) -> Callable[[Mapping[str, Any]], Truth]:
    return lambda row: None if row[column] is None else test(row[column])


def _and(a: Condition, b: Condition) -> Condition:
    def holds(row: Mapping[str, Any]) -> Truth:
        x, y = a.holds(row), b.holds(row)
        if x is False or y is False:
            return False
        return None if x is None or y is None else True

    return Condition(f"({a.sql}) and ({b.sql})", holds)


def _or(a: Condition, b: Condition) -> Condition:
    def holds(row: Mapping[str, Any]) -> Truth:
        x, y = a.holds(row), b.holds(row)
        if x is True or y is True:
            return True
        return None if x is None or y is None else False

    return Condition(f"({a.sql}) or ({b.sql})", holds)


def _not(a: Condition) -> Condition:
    def holds(row: Mapping[str, Any]) -> Truth:
        x = a.holds(row)
        return None if x is None else not x

    return Condition(f"not ({a.sql})", holds)


def _ids(chooser: Chooser, prefix: str, count: int) -> list[str]:
    return sorted({f"{prefix}{chooser.number(1, count)}" for _ in range(chooser.number(1, 3))})


def _in_list(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def customer_atom(chooser: Chooser) -> Condition:
    kind = chooser.pick(
        ("flag", "flag", "country", "countries", "no country", "young", "adult", "between",
         "ids", "coalesce", "loyal")
    )  # fmt: skip
    if kind == "flag":
        flag = chooser.pick(FLAGS)
        return Condition(f"list_contains(flags, '{flag}')", lambda c: flag in c["flags"])
    if kind == "country":
        country = chooser.pick(("DE", "FR", "US"))
        return Condition(f"country = '{country}'", _compare("country", lambda v: v == country))
    if kind == "countries":
        return Condition(
            "country in ('DE', 'FR')", _compare("country", lambda v: v in ("DE", "FR"))
        )
    if kind == "no country":
        return Condition("country is null", lambda c: c["country"] is None)
    if kind == "young":
        return Condition("age < 25", _compare("age", lambda v: v < 25))
    if kind == "adult":
        return Condition("age >= 18", _compare("age", lambda v: v >= 18))
    if kind == "between":
        return Condition("age between 16 and 30", _compare("age", lambda v: 16 <= v <= 30))
    if kind == "ids":
        ids = _ids(chooser, "c", 8)
        return Condition(
            f"customer_id in ({_in_list(ids)})", _compare("customer_id", lambda v: v in ids)
        )
    if kind == "coalesce":
        return Condition(
            "coalesce(age, 0) < 18", lambda c: (c["age"] if c["age"] is not None else 0) < 18
        )
    return Condition("loyalty_points > 100", _compare("loyalty_points", lambda v: v > 100))


def item_atom(chooser: Chooser) -> Condition:
    kind = chooser.pick(
        ("category", "category", "categories", "no category", "expensive", "cheap", "ids",
         "age limited", "green", "brand")
    )  # fmt: skip
    if kind == "category":
        category = chooser.pick(("alcohol", "betting", "food"))
        return Condition(f"category = '{category}'", _compare("category", lambda v: v == category))
    if kind == "categories":
        return Condition(
            "category in ('food', 'books')",
            _compare("category", lambda v: v in ("food", "books")),
        )
    if kind == "no category":
        return Condition("category is null", lambda i: i["category"] is None)
    if kind == "expensive":
        return Condition("price > 10", _compare("price", lambda v: v > 10))
    if kind == "cheap":
        return Condition("price <= 5", _compare("price", lambda v: v <= 5))
    if kind == "ids":
        ids = _ids(chooser, "i", 8)
        return Condition(f"item_id in ({_in_list(ids)})", lambda i: i["item_id"] in ids)
    if kind == "age limited":
        return Condition("min_age is not null", lambda i: i["min_age"] is not None)
    if kind == "green":
        return Condition(
            "sustainability_score >= 0.5", _compare("sustainability_score", lambda v: v >= 0.5)
        )
    return Condition("brand = 'acme'", _compare("brand", lambda v: v == "acme"))


def condition(chooser: Chooser, atom: Callable[[Chooser], Condition], depth: int = 2) -> Condition:
    """An atom, or NOT / AND / OR of smaller conditions (at most ``depth`` levels)."""
    shape = chooser.pick(("atom", "atom", "atom", "not", "and", "or")) if depth else "atom"
    if shape == "atom":
        return atom(chooser)
    if shape == "not":
        return _not(condition(chooser, atom, depth - 1))
    combine = _and if shape == "and" else _or
    return combine(condition(chooser, atom, depth - 1), condition(chooser, atom, depth - 1))


# =================================================================================================
# The inputs of one tenant, and of one build
# =================================================================================================


@dataclass
class Item:
    item_id: str
    category: str | None
    brand: str | None
    price: float | None
    is_active: bool
    min_age: int | None
    sustainability_score: float | None

    def row(self) -> dict[str, Any]:
        return self.__dict__


@dataclass
class Customer:
    customer_id: str
    country: str | None
    birth_date: date | None
    loyalty_points: int | None
    #: False: the customer is known from interactions only (no attributes).
    in_customers_file: bool = True


@dataclass(frozen=True)
class Interaction:
    customer_id: str | None  # None: a guest event (with a session_id)
    item_id: str
    event_type: str
    occurred_at: datetime
    quantity: int
    session_id: str | None


@dataclass(frozen=True)
class Restriction:
    item_id: str | None
    category: str | None
    country: str
    allowed: bool


@dataclass
class Consent:
    customer_id: str
    personalization: bool
    marketing: bool
    updated_at: datetime


@dataclass
class Rule:
    rule_id: str
    action: str
    customer_condition: Condition | None
    item_condition: Condition | None
    value: float | None
    enabled: bool
    #: A rule with tenant_id '*'. Its rule_id may be the same as a tenant's own rule's.
    for_every_tenant: bool = False

    @property
    def key(self) -> str:
        return f"{'*' if self.for_every_tenant else 'tenant'}:{self.rule_id}"


@dataclass
class Tenant:
    tenant_id: str
    k: int
    no_consent_list: str | None  # None: the default ('popular')
    algorithm: str
    candidates_n: int | None
    sustainability_nudge: float | None
    items: list[Item]
    customers: list[Customer]
    interactions: list[Interaction]
    flags: list[tuple[str, str]]
    restrictions: list[Restriction]
    consents: list[Consent]
    erasures: list[str]
    rules: list[Rule]


@dataclass
class World:
    tenants: list[Tenant]
    #: Rules with tenant_id '*': for every tenant of the build.
    global_rules: list[Rule]
    #: The seed the tenants were generated from (generated_tenant), if they were.
    seed: int | None = None

    def __repr__(self) -> str:
        rules = [(r.action, r.customer_condition, r.item_condition) for r in self.global_rules]
        return f"World(seed={self.seed}, {len(self.tenants)} tenants, rules for all: {rules})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis prints it
        printer.text(repr(self))


def make_rule(
    chooser: Chooser,
    rule_id: str,
    actions: Sequence[str] = ACTIONS,
    *,
    for_every_tenant: bool = False,
) -> Rule:
    action = chooser.pick(actions)
    # A rule for every tenant, or one that withholds lists, matches only some customers. A cap
    # is often for everyone and every item ("at most 2 of a category").
    needs_customers = for_every_tenant or action in ("nothing", "include_only")
    general = 50 if action == "cap" else 15
    customer_condition = (
        condition(chooser, customer_atom)
        if needs_customers or not chooser.chance(general * 2)
        else None
    )
    item_condition = (
        condition(chooser, item_atom)
        if action != "nothing" and not chooser.chance(general)
        else None
    )
    value = {
        "boost": lambda: chooser.pick((0.5, 2.0, 3.0)),
        "cap": lambda: float(chooser.pick((1, 1, 2, 3))),
    }.get(action, lambda: None)()
    enabled = chooser.chance(90)
    return Rule(
        rule_id, action, customer_condition, item_condition, value, enabled, for_every_tenant
    )


def make_tenant(chooser: Chooser, tenant_id: str) -> Tenant:
    """A tiny tenant. Each tenant draws its own mix first ("swarm testing"): which categories
    its items have and which actions its rules use, so that some tenants stack several caps on
    one category, others several exclusions, and so on."""
    k = chooser.number(3, 6)
    categories = [c for c in CATEGORIES if chooser.chance(60)] or [None]
    actions = [a for a in ACTIONS if chooser.chance(50)] or list(ACTIONS)
    items = [
        Item(
            item_id=f"i{n}",
            category=chooser.pick(categories),
            brand=chooser.pick(BRANDS),
            price=chooser.pick((None, 2.5, 5.0, 9.99, 10.0, 25.0)),
            is_active=not chooser.chance(15),
            min_age=chooser.pick((18, 16)) if chooser.chance(20) else None,
            sustainability_score=chooser.pick((None, 0.1, 0.5, 0.9)),
        )
        for n in range(1, k + chooser.number(0, 8))
    ]
    customers = [
        Customer(
            customer_id=f"c{n}",
            country=chooser.pick(CUSTOMER_COUNTRIES),
            birth_date=chooser.pick(BIRTH_DATES) if chooser.chance(80) else None,
            loyalty_points=chooser.pick((None, 50, 150)),
            in_customers_file=not chooser.chance(15),
        )
        for n in range(1, chooser.number(1, 8) + 1)
    ]
    sparse = chooser.chance(20)
    interactions = []
    for customer in customers:
        events = (
            chooser.number(0, 2)
            if sparse
            else chooser.number(0 if customer.in_customers_file else 1, 8)
        )
        for _ in range(events):
            interactions.append(
                Interaction(
                    customer_id=customer.customer_id,
                    item_id=chooser.pick(items).item_id,
                    event_type=chooser.pick(("purchase", "purchase", "view", "cart")),
                    occurred_at=BUILD_TIME
                    - timedelta(days=chooser.number(0, 90), hours=chooser.number(1, 23)),
                    quantity=chooser.number(1, 3),
                    session_id=None,
                )
            )
    for n in range(chooser.number(0, 3)):  # guests: popularity only
        interactions.append(
            Interaction(
                customer_id=None,
                item_id=chooser.pick(items).item_id,
                event_type="purchase",
                occurred_at=BUILD_TIME - timedelta(days=chooser.number(0, 60), hours=3),
                quantity=1,
                session_id=f"s{n}",
            )
        )
    interactions = list(dict.fromkeys(interactions))  # an identical row is a duplicate
    if not interactions:  # a tenant without interactions fails the build (input_acceptance)
        interactions.append(
            Interaction(None, items[0].item_id, "purchase", BUILD_TIME - timedelta(days=1), 1, "s0")
        )
    flags = sorted(
        {
            (c.customer_id, chooser.pick((flag, flag, flag.upper())))
            for c in customers
            for flag in FLAGS
            if chooser.chance(25)
        }
    )
    restrictions = []
    for _ in range(chooser.number(0, 4)):
        if chooser.chance(50):
            target: tuple[str | None, str | None] = (chooser.pick(items).item_id, None)
        else:
            target = (None, chooser.pick(CATEGORIES[:-1]))
        country = chooser.pick(RESTRICTION_COUNTRIES)
        allowed = chooser.chance(40)
        restrictions.append(Restriction(*target, country, allowed))
        if chooser.chance(25):  # a conflicting row for the same item (or category) and country
            restrictions.append(Restriction(*target, country, not allowed))
    restrictions = list(dict.fromkeys(restrictions))
    consents = []
    for c in customers:
        if chooser.chance(50):
            days = sorted({chooser.number(1, 400) for _ in range(chooser.number(1, 3))})
            consents += [
                Consent(
                    c.customer_id,
                    not chooser.chance(30),
                    not chooser.chance(25),
                    BUILD_TIME - timedelta(days=d),
                )
                for d in days
            ]
    erasures = [c.customer_id for c in customers if chooser.chance(8)]
    rules = [make_rule(chooser, f"r{n}", actions) for n in range(1, chooser.number(0, 4) + 1)]
    return Tenant(
        tenant_id=tenant_id,
        k=k,
        no_consent_list=chooser.pick((None, "popular", "nothing")),
        algorithm=chooser.pick(("auto", "auto", "popularity", "cooccurrence", "als", "ease")),
        candidates_n=chooser.pick((None, k, k + 2)),
        sustainability_nudge=chooser.pick((None, 0.0, 0.5)),
        items=items,
        customers=customers,
        interactions=interactions,
        flags=flags,
        restrictions=restrictions,
        consents=consents,
        erasures=erasures,
        rules=rules,
    )


def generated_tenant(seed: int, n: int) -> Tenant:
    """Tenant number ``n`` of the worlds drawn with ``seed``: the same tenant every time."""
    return make_tenant(RandomChooser(random.Random(f"{seed}:{n}")), f"t{n:04d}")


@st.composite
def worlds(
    draw: Callable[[st.SearchStrategy[Any]], Any], tenants: int = TENANTS_PER_BUILD
) -> World:
    """A build's inputs: ``tenants`` tenants generated from a drawn seed, and 0-3 rules for
    every tenant drawn from the rule grammar."""
    seed = draw(st.integers(0, 2**32 - 1))
    chooser = DrawChooser(draw)
    global_rules = [
        make_rule(chooser, f"r{n}", for_every_tenant=True)
        for n in range(1, draw(st.integers(0, 3)) + 1)
    ]
    return World([generated_tenant(seed, n) for n in range(tenants)], global_rules, seed)


# =================================================================================================
# Writing the inputs (parquet, every column text, as docs/contract.md allows)
# =================================================================================================


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _rule_row(tenant_id: str, rule: Rule) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "rule_id": rule.rule_id,
        "action": rule.action,
        "customer_condition": rule.customer_condition and rule.customer_condition.sql,
        "item_condition": rule.item_condition and rule.item_condition.sql,
        "value": rule.value,
        "reason": f"generated {rule.action}",
        "enabled": rule.enabled,
    }


def input_rows(world: World) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in world.tenants:
        tid = t.tenant_id
        tables["tenants"].append(
            {
                "tenant_id": tid,
                "k": t.k,
                "algorithm": t.algorithm,
                "no_consent_list": t.no_consent_list,
                "candidates_n": t.candidates_n,
                "sustainability_nudge": t.sustainability_nudge,
                "als_factors": 4,
                "als_iterations": 3,
            }
        )
        tables["items"] += [
            {"tenant_id": tid, "name": f"Item {i.item_id}", **i.row()} for i in t.items
        ]
        tables["customers"] += [
            {
                "tenant_id": tid,
                "customer_id": c.customer_id,
                "country": c.country,
                "birth_date": c.birth_date,
                "loyalty_points": c.loyalty_points,
            }
            for c in t.customers
            if c.in_customers_file
        ]
        tables["interactions"] += [
            {"tenant_id": tid, **e.__dict__, "customer_id": e.customer_id or ""}
            for e in t.interactions
        ]
        tables["customer_flags"] += [
            {"tenant_id": tid, "customer_id": c, "flag": f} for c, f in t.flags
        ]
        tables["item_restrictions"] += [{"tenant_id": tid, **r.__dict__} for r in t.restrictions]
        tables["consents"] += [{"tenant_id": tid, **c.__dict__} for c in t.consents]
        tables["erasure_requests"] += [
            {"tenant_id": tid, "customer_id": c, "requested_at": BUILD_TIME - timedelta(days=2)}
            for c in t.erasures
        ]
        tables["rules"] += [_rule_row(tid, r) for r in t.rules]
    tables["rules"] += [_rule_row("*", r) for r in world.global_rules]
    return tables


def write_world(world: World, directory: Path) -> Path:
    directory.mkdir(parents=True)
    for table, rows in input_rows(world).items():
        if not rows:
            continue
        columns = list(dict.fromkeys(name for row in rows for name in row))
        arrays = {
            name: pa.array([_text(row.get(name)) for row in rows], pa.string()) for name in columns
        }
        if table == "customers":  # an extra attribute keeps the type it has in the file
            arrays["loyalty_points"] = pa.array([row["loyalty_points"] for row in rows], pa.int64())
        pq.write_table(pa.table(arrays), directory / f"{table}.parquet")
    return directory


# =================================================================================================
# The checker: the rules restated over the generated inputs
# =================================================================================================


def age_on(birth_date: date | None, day: date = TODAY) -> int | None:
    """Full years at ``day``."""
    if birth_date is None:
        return None
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


@dataclass(frozen=True)
class Person:
    """What the rules know of a customer who exists (not erased)."""

    customer_id: str
    country: str | None
    age: int | None
    flags: frozenset[str]
    loyalty_points: int | None
    personalization: bool
    marketing: bool

    @property
    def row(self) -> dict[str, Any]:
        return self.__dict__


@dataclass
class Expected:
    """One tenant's inputs, digested: who exists, what they bought, where items are blocked,
    which rules match whom."""

    tenant: Tenant
    rules: list[Rule]
    people: dict[str, Person]
    erased: set[str]
    items: dict[str, Item]
    bought: set[tuple[str, str]]
    blocked_in: dict[str, set[str]]
    #: items someone bought (a guest, or a customer who was not erased): never new
    sold: frozenset[str] = frozenset()

    @classmethod
    def of(cls, tenant: Tenant, global_rules: list[Rule]) -> Expected:
        erased = set(tenant.erasures)
        attributes = {c.customer_id: c for c in tenant.customers if c.in_customers_file}
        existing = set(attributes) | {
            e.customer_id for e in tenant.interactions if e.customer_id is not None
        }
        flags: dict[str, set[str]] = defaultdict(set)
        for customer_id, flag in tenant.flags:
            flags[customer_id].add(flag.lower())
        latest: dict[str, Consent] = {}
        for consent in sorted(tenant.consents, key=lambda c: c.updated_at):
            latest[consent.customer_id] = consent
        people = {}
        for customer_id in existing - erased:
            customer = attributes.get(customer_id)
            consent = latest.get(customer_id)
            people[customer_id] = Person(
                customer_id=customer_id,
                country=customer.country if customer else None,
                age=age_on(customer.birth_date) if customer else None,
                flags=frozenset(flags[customer_id]),
                loyalty_points=customer.loyalty_points if customer else None,
                personalization=consent.personalization if consent else True,
                marketing=consent.marketing if consent else True,
            )
        return cls(
            tenant=tenant,
            rules=[r for r in [*tenant.rules, *global_rules] if r.enabled],
            people=people,
            erased=erased,
            items={i.item_id: i for i in tenant.items},
            bought={
                (e.customer_id, e.item_id)
                for e in tenant.interactions
                if e.customer_id is not None and e.event_type == "purchase"
            },
            blocked_in=blocked_countries(tenant),
            sold=frozenset(
                e.item_id
                for e in tenant.interactions
                if e.event_type == "purchase" and e.customer_id not in erased
            ),
        )

    def rules_for(self, person: Person, action: str) -> list[Rule]:
        return [
            r
            for r in self.rules
            if r.action == action
            and (r.customer_condition is None or r.customer_condition.matches(person.row))
        ]

    def withheld_by(self, person: Person, shelf: str) -> str | None:
        """Why the customer gets no list on ``shelf``, or None."""
        if self.rules_for(person, "nothing"):
            return "nothing rule"
        if shelf in ("discover", "new_for_you") and not person.marketing:
            return "no marketing consent"
        if not person.personalization and (
            shelf != "discover" or self.tenant.no_consent_list == "nothing"
        ):
            return "no personalization consent"
        return None

    def blocked(self, person: Person, item: Item, shelf: str) -> str | None:
        """The first rule that forbids showing ``item`` to ``person`` on ``shelf``, or None."""
        blocked_in = self.blocked_in.get(item.item_id, set())
        if person.country is None and blocked_in:
            return "geo (country unknown)"
        if person.country in blocked_in:
            return "geo"
        if item.min_age is not None and (person.age is None or person.age < item.min_age):
            return "age"
        for rule in self.rules_for(person, "exclude"):
            if rule.item_condition is None or rule.item_condition.matches(item.row()):
                return f"exclude {rule.key}"
        for rule in self.rules_for(person, "include_only"):
            if rule.item_condition is not None and not rule.item_condition.matches(item.row()):
                return f"include_only {rule.key}"
        if not item.is_active:
            return "inactive"
        if shelf != "buy_again" and (person.customer_id, item.item_id) in self.bought:
            return "already bought"
        if shelf == "buy_again" and (person.customer_id, item.item_id) not in self.bought:
            return "buy_again item not bought"
        return None

    def caps(self, person: Person) -> list[tuple[Rule, int]]:
        return [(r, int(r.value or 0)) for r in self.rules_for(person, "cap")]

    def over_cap(self, person: Person, item_ids: Iterable[str]) -> str | None:
        """The cap rule a list breaks, or None: per cap rule and category, at most `value` of
        the items its item_condition matches (items without a category are not capped)."""
        for rule, cap in self.caps(person):
            counted: dict[str, int] = defaultdict(int)
            for item_id in item_ids:
                item = self.items[item_id]
                if item.category is not None and (
                    rule.item_condition is None or rule.item_condition.matches(item.row())
                ):
                    counted[item.category] += 1
            if any(n > cap for n in counted.values()):
                return f"cap {rule.key}"
        return None

    def can_fill(self, person: Person, k: int) -> bool:
        """Whether k allowed items exist that together respect the customer's caps."""
        allowed = [i for i in self.tenant.items if not self.blocked(person, i, "discover")]
        if len(allowed) < k:
            return False
        if not self.caps(person):
            return True
        capped = {
            i.item_id
            for i in allowed
            for rule, _ in self.caps(person)
            if i.category is not None
            and (rule.item_condition is None or rule.item_condition.matches(i.row()))
        }
        free = len(allowed) - len(capped)
        if free >= k:
            return True
        return any(
            self.over_cap(person, chosen) is None
            for chosen in itertools.combinations(sorted(capped), k - free)
        )


def blocked_countries(tenant: Tenant) -> dict[str, set[str]]:
    """Per item, the countries where it may not be offered: an item-level row decides for its
    item and country, otherwise a category-level row does; among rows of one level, any
    "not allowed" wins."""
    by_item: dict[tuple[str, str], list[bool]] = defaultdict(list)
    by_category: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in tenant.restrictions:
        if r.item_id is not None:
            by_item[(r.item_id, r.country)].append(r.allowed)
        else:
            by_category[(r.category, r.country)].append(r.allowed)
    countries = {r.country for r in tenant.restrictions}
    blocked: dict[str, set[str]] = defaultdict(set)
    for item in tenant.items:
        for country in countries:
            decisive = by_item.get((item.item_id, country)) or by_category.get(
                (item.category, country)
            )
            if decisive and not all(decisive):
                blocked[item.item_id].add(country)
    return blocked


@dataclass(frozen=True)
class Problem:
    kind: str
    tenant_id: str
    shelf: str
    customer_id: str | None = None
    item_id: str | None = None
    detail: str = ""

    def __str__(self) -> str:
        where = " ".join(
            f"{name}={value}"
            for name, value in (
                ("customer", self.customer_id),
                ("item", self.item_id),
            )
            if value is not None
        )
        return f"{self.kind} [{self.shelf}] tenant={self.tenant_id} {where} {self.detail}".rstrip()


def served_lists(db: Path, relation: str) -> dict[tuple[str, str], list[tuple[int, str, str]]]:
    """(tenant, customer) -> [(rank, item, algorithm)] in rank order."""
    lists: dict[tuple[str, str], list[tuple[int, str, str]]] = defaultdict(list)
    for tenant_id, customer_id, rank, item_id, algorithm in query(
        db,
        f"select tenant_id, customer_id, rank, item_id, algorithm from {relation} order by all",
    ):
        lists[(tenant_id, customer_id)].append((rank, item_id, algorithm))
    return lists


def problems_in(world: World, db: Path, schema: str = "") -> list[Problem]:
    """Every served row that breaks a rule, every list that is too long or too short."""
    expected = {t.tenant_id: Expected.of(t, world.global_rules) for t in world.tenants}
    problems: list[Problem] = []
    served = {
        shelf: served_lists(db, f"{schema}{relation}")
        for shelf, relation in (
            ("discover", "recommendations"),
            ("buy_again", "buy_again"),
            ("new_for_you", "new_for_you"),
        )
    }
    for shelf, lists in served.items():
        for (tenant_id, customer_id), rows in lists.items():
            e = expected[tenant_id]
            person = e.people.get(customer_id)
            if person is None:
                kind = "erased customer served" if customer_id in e.erased else "unknown customer"
                problems.append(Problem(kind, tenant_id, shelf, customer_id))
                continue
            if reason := e.withheld_by(person, shelf):
                problems.append(Problem(f"served despite {reason}", tenant_id, shelf, customer_id))
            item_ids = [item_id for _, item_id, _ in rows]
            if [rank for rank, _, _ in rows] != list(range(1, len(rows) + 1)):
                problems.append(Problem("ranks not 1..n", tenant_id, shelf, customer_id))
            if len(set(item_ids)) != len(item_ids):
                problems.append(Problem("item served twice", tenant_id, shelf, customer_id))
            if len(rows) > e.tenant.k:
                problems.append(
                    Problem("more than k", tenant_id, shelf, customer_id, detail=f"{len(rows)}")
                )
            for _, item_id, algorithm in rows:
                item = e.items.get(item_id)
                if item is None:
                    problems.append(Problem("unknown item", tenant_id, shelf, customer_id, item_id))
                    continue
                if reason := e.blocked(person, item, shelf):
                    problems.append(Problem(reason, tenant_id, shelf, customer_id, item_id))
                if shelf == "new_for_you" and item_id in e.sold:  # no launch dates here
                    problems.append(Problem("not new", tenant_id, shelf, customer_id, item_id))
                if (
                    shelf == "discover"
                    and not person.personalization
                    and algorithm not in ("popularity", "trending")
                ):
                    problems.append(
                        Problem(
                            "personalized without consent",
                            tenant_id,
                            shelf,
                            customer_id,
                            item_id,
                            algorithm,
                        )
                    )
            if all(i in e.items for i in item_ids) and (cap := e.over_cap(person, item_ids)):
                problems.append(Problem(cap, tenant_id, shelf, customer_id, detail=str(item_ids)))
    # Full lists: every customer who gets a discover list gets k items when k allowed exist.
    for tenant_id, e in expected.items():
        for person in e.people.values():
            if e.withheld_by(person, "discover"):
                continue
            got = len(served["discover"].get((tenant_id, person.customer_id), []))
            if got < e.tenant.k and e.can_fill(person, e.tenant.k):
                problems.append(
                    Problem(
                        "short list",
                        tenant_id,
                        "discover",
                        person.customer_id,
                        detail=f"{got} of k={e.tenant.k}",
                    )
                )
    # Popular items by country: nothing restricted there, nothing inactive.
    for tenant_id, country, item_id in query(
        db,
        f"select tenant_id, country, item_id from {schema}popular_items "
        "where country is not null order by all",
    ):
        e = expected[tenant_id]
        item = e.items[item_id]
        if country in e.blocked_in.get(item_id, set()):
            problems.append(Problem("geo", tenant_id, "popular_items", None, item_id, country))
        if not item.is_active:
            problems.append(Problem("inactive", tenant_id, "popular_items", None, item_id, country))
    return problems


def api_problems(world: World, db: Path, per_tenant: int = 3) -> list[Problem]:
    """Every row of a real-time list (recsql.open) that breaks a rule: for a few customers of
    each tenant and one visitor, with random items of the tenant in view."""
    expected = {t.tenant_id: Expected.of(t, world.global_rules) for t in world.tenants}
    problems: list[Problem] = []
    with recsql.open(db) as api:
        for tenant_id, e in expected.items():
            rng = random.Random(f"{world.seed}:{tenant_id}")
            item_ids = sorted(e.items)
            people = sorted(e.people)
            countries = sorted({p.country for p in e.people.values() if p.country is not None})
            country = rng.choice([*countries, "XX", None])
            visitor = Person(
                customer_id=None,  # type: ignore[arg-type]  # a visitor: nothing known
                country=country if country in countries else None,
                age=None,
                flags=frozenset(),
                loyalty_points=None,
                personalization=True,
                marketing=True,
            )
            asked = [(e.people[c], c) for c in rng.sample(people, min(per_tenant, len(people)))]
            asked += [(visitor, None), (visitor, f"new-{tenant_id}")]
            asked += [(visitor, c) for c in sorted(e.erased)[:1]]  # an erased id: a visitor
            for person, customer_id in asked:
                context = rng.sample(item_ids, min(len(item_ids), rng.randint(1, 3)))
                rows = api.recommend(
                    tenant_id, customer_id, k=e.tenant.k, context_items=context, country=country
                )
                shelf = "real-time"
                if rows and person is not visitor and e.withheld_by(person, "discover"):
                    problems.append(
                        Problem("served though withheld", tenant_id, shelf, customer_id)
                    )
                listed = [r.item_id for r in rows]
                if len(set(listed)) != len(listed) or len(listed) > e.tenant.k:
                    problems.append(
                        Problem("bad list", tenant_id, shelf, customer_id, None, str(listed))
                    )
                for item_id in listed:
                    if item_id in context and person.personalization:
                        problems.append(
                            Problem("context item", tenant_id, shelf, customer_id, item_id)
                        )
                    if reason := e.blocked(person, e.items[item_id], "discover"):
                        problems.append(Problem(reason, tenant_id, shelf, customer_id, item_id))
                if cap := e.over_cap(person, listed):
                    problems.append(Problem(cap, tenant_id, shelf, customer_id, detail=str(listed)))
    return problems


def describe(world: World, tenant_id: str) -> str:
    """One tenant's inputs (and the rules for every tenant), as the rows written."""
    tenant = next(t for t in world.tenants if t.tenant_id == tenant_id)
    one = World([tenant], world.global_rules)
    lines = []
    for table, rows in input_rows(one).items():
        if rows:
            lines.append(f"  {table}:")
            lines += [
                "    " + ", ".join(f"{n}={_text(v)}" for n, v in row.items() if v is not None)
                for row in rows
            ]
    return "\n".join(lines)


def report(world: World, problems: list[Problem]) -> str:
    kinds: dict[str, int] = defaultdict(int)
    for problem in problems:
        kinds[problem.kind] += 1
    tenant_ids = {t.tenant_id for t in world.tenants}
    first = next((p.tenant_id for p in problems if p.tenant_id in tenant_ids), None)
    lines = [
        f"{len(problems)} problem(s) in {len({p.tenant_id for p in problems})} tenant(s): "
        + ", ".join(f"{kind} x{n}" for kind, n in sorted(kinds.items())),
        *(f"  {p}" for p in problems[:25]),
    ]
    if first is not None:
        again = (
            f"; generated_tenant({world.seed}, {int(first[1:])})" if world.seed is not None else ""
        )
        lines += [
            f"Inputs of tenant {first} (it fails alone too{again}):",
            describe(world, first),
        ]
    return "\n".join(lines)


# =================================================================================================
# The property
# =================================================================================================


def check_world(world: World, root: Path, build_inputs: Callable[..., Any]) -> list[Problem]:
    """Build the world's inputs and return every problem the published views have. A build that
    fails (a compliance test of the pipeline itself) is a problem too; then the lists are read
    from the build's own database."""
    data = write_world(world, root / "data")
    db = root / "recsql.duckdb"
    try:
        build_inputs(data, db)
    except BuildFailed as failure:
        failed = Problem("build failed", "-", "-", detail=str(failure))
        try:
            return [failed, *problems_in(world, work_dir_for(db) / "build.duckdb", "serving.")]
        except duckdb.Error:  # the serving models were not built
            return [failed]
    quarantined = query(db, "select source_table, reason, row_json from quarantined_rows")
    assert quarantined == [], f"the generator wrote rows the contract rejects: {quarantined}"
    return problems_in(world, db) + api_problems(world, db)


def test_no_served_row_breaks_a_rule_and_full_lists_where_k_allowed_items_exist(
    tmp_path_factory: pytest.TempPathFactory, build_inputs: Callable[..., Any]
) -> None:
    tenants_checked: list[int] = []
    new_items_served: list[int] = []

    @settings(
        max_examples=BUILDS,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],  # a build per example: no shrinking (a tenant fails alone)
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(world=worlds())
    def check(world: World) -> None:
        root = tmp_path_factory.mktemp("world")
        problems = check_world(world, root, build_inputs)
        assert not problems, report(world, problems)
        tenants_checked.append(len(world.tenants))
        [(served,)] = query(root / "recsql.duckdb", "select count(*) from new_for_you")
        new_items_served.append(served)

    check()
    assert sum(tenants_checked) >= MIN_TENANTS
    assert sum(new_items_served) > 0  # the new-for-you rows were there to be checked


# =================================================================================================
# Known answers for what the properties found
# =================================================================================================


def _bought_by_guests(item_id: str, times: int, days_ago: int) -> list[Interaction]:
    return [
        Interaction(
            None, item_id, "purchase", BUILD_TIME - timedelta(days=days_ago + n), 1, f"{item_id}{n}"
        )
        for n in range(times)
    ]


def test_an_item_over_one_cap_leaves_room_under_another(
    tmp_path: Path, build_inputs: Callable[..., Any]
) -> None:
    """Two caps for everyone: `dear`, at most 1 item over 10 per category; `variety`, at most 2
    items per category. Food items a and b (25.00) and c (2.00), most popular first, and a book
    d; k = 3. b is over `dear`, so it is not in the list, and c is the second food item in it:
    the list is a, c, d — whether the food items are candidates (tenant `listed`) or come from
    the refill because the three most popular items are excluded (tenant `refilled`)."""
    over_10 = Condition("price > 10", _compare("price", lambda v: v > 10))
    caps = [
        Rule("dear", "cap", None, over_10, 1.0, enabled=True),
        Rule("variety", "cap", None, None, 2.0, enabled=True),
    ]
    items = [
        Item("a", "food", None, 25.0, True, None, None),
        Item("b", "food", None, 25.0, True, None, None),
        Item("c", "food", None, 2.0, True, None, None),
        Item("d", "books", None, None, True, None, None),
    ]
    history = [
        event
        for item_id, times in (("a", 6), ("b", 5), ("c", 4), ("d", 3))
        for event in _bought_by_guests(item_id, times, days_ago=70)
    ]
    customer = Customer("c1", None, None, None)
    listed = Tenant(
        "listed", 3, None, "popularity", None, None, items, [customer], history,
        [], [], [], [], caps,
    )  # fmt: skip
    spirits = [Item(f"z{n}", "alcohol", None, None, True, None, None) for n in (1, 2, 3)]
    recent = [e for z in spirits for e in _bought_by_guests(z.item_id, 9, days_ago=1)]
    sober = Rule(
        "sober",
        "exclude",
        None,
        Condition("category = 'alcohol'", _compare("category", lambda v: v == "alcohol")),
        None,
        True,
    )
    refilled = Tenant(
        "refilled", 3, None, "popularity", None, None, items + spirits, [customer],
        history + recent, [], [], [], [], [*caps, sober],
    )  # fmt: skip
    data = write_world(World([listed, refilled], []), tmp_path / "data")
    result = build_inputs(data, tmp_path / "recsql.duckdb")
    served = query(
        result.db_path,
        "select tenant_id, list(item_id order by item_id) from recommendations group by all "
        "order by all",
    )
    assert served == [("listed", ["a", "c", "d"]), ("refilled", ["a", "c", "d"])]
