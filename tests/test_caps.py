"""Category caps, walked in list order: an item is kept when every cap counting it still has
room among the items kept before it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from recsql.rules.caps import keep

CAPS = pa.list_(pa.struct([("rule_key", pa.string()), ("cap", pa.int32())]))
DEAR = {"rule_key": "dear", "cap": 1}
VARIETY = {"rule_key": "variety", "cap": 2}


def _keep(lists, categories, caps, already=None):
    return keep(
        np.asarray(lists),
        np.asarray(categories, dtype=object),
        pa.array(caps, CAPS),
        None if already is None else np.asarray(already),
    )


def test_an_item_removed_by_one_cap_does_not_count_against_another() -> None:
    """a, b, c food (a, b dear: at most 1), d books; variety: at most 2 of a category."""
    kept, capped_by = _keep(
        [0, 0, 0, 0],
        ["food", "food", "food", "books"],
        [[DEAR, VARIETY], [DEAR, VARIETY], [VARIETY], [VARIETY]],
    )
    assert kept.tolist() == [True, False, True, True]
    assert capped_by.tolist() == [None, "dear", None, None]


def test_each_list_and_category_has_its_own_count_and_no_category_is_never_capped() -> None:
    one = {"rule_key": "one", "cap": 1}
    kept, capped_by = _keep(
        [0, 0, 0, 1, 1, 1],
        ["food", "food", None, "food", "books", None],
        [[one], [one], [one], [one], [one], [one]],
    )
    assert kept.tolist() == [True, False, True, True, True, True]
    assert capped_by.tolist() == [None, "one", None, None, None, None]


def test_items_a_list_already_holds_count_and_stay() -> None:
    kept, capped_by = _keep(
        [0, 0, 0, 0],
        ["food"] * 4,
        [[VARIETY]] * 4,
        already=[True, True, True, False],  # held items are kept even past the cap
    )
    assert kept.tolist() == [True, True, True, False]
    assert capped_by.tolist() == [None, None, None, "variety"]


def test_the_reported_rule_is_the_first_by_key_of_those_without_room() -> None:
    a, b = {"rule_key": "b_rule", "cap": 1}, {"rule_key": "a_rule", "cap": 1}
    kept, capped_by = _keep([0, 0], ["food", "food"], [[a, b], [a, b]])
    assert kept.tolist() == [True, False] and capped_by[1] == "a_rule"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),  # list
            st.sampled_from(["food", "books", None]),
            st.lists(st.sampled_from(["r1", "r2", "r3"]), unique=True, max_size=3),
        ),
        max_size=40,
    )
)
def test_matches_a_plain_walk_of_each_list(rows) -> None:
    """Property: the same answer as walking each list item by item with counters."""
    rows.sort(key=lambda r: r[0])  # stable: keeps the generated order within a list
    limits = {"r1": 1, "r2": 2, "r3": 3}
    caps = [[{"rule_key": r, "cap": limits[r]} for r in rules] for _, _, rules in rows]
    kept, _ = _keep([r[0] for r in rows], [r[1] for r in rows], caps)
    expected, used = [], {}
    for list_id, category, rules in rows:
        room = category is None or all(
            used.get((list_id, r, category), 0) < limits[r] for r in rules
        )
        expected.append(room)
        if room and category is not None:
            for r in rules:
                used[(list_id, r, category)] = used.get((list_id, r, category), 0) + 1
    assert kept.tolist() == expected
