-- The business-rule decisions, as DuckDB macros over one person's and one item's rule state
-- (rows of customer_rule_states - or of a rule class of them - and item_rule_states, passed
-- whole). The one definition of the verdicts: the build evaluates them once per rule class and
-- item (models/rules/rule_class_verdicts.sql), and they are defined in every published file
-- too (recsql/build/publish.py). recsql/rules/verdicts.py mirrors recsql_nudge, the one
-- verdict real-time lists compute per customer. docs/rules.md documents the order; plain SQL
-- only, readable by DuckDB 1.4 and later.

-- Why customer c may not be shown item i on any shelf (steps 3 to 6 of the order), or NULL:
-- geo entitlement, age limit, exclude rules, inactive item. A customer whose country or age is
-- unknown is not shown an item restricted by country or age.
create or replace macro recsql_blocked_by(c, i) as
    case
        when c.country is null and len(i.blocked_countries) > 0
            then 'geo restriction (country unknown)'
        when list_contains(i.blocked_countries, c.country) then 'geo restriction'
        when i.min_age is not null and c.age is null then 'age limit (age unknown)'
        when c.age < i.min_age then 'age limit'
        when list_has_any(c.exclude_rules, i.rule_keys)
            then 'rule ' || list_sort(list_intersect(c.exclude_rules, i.rule_keys))[1]
        when not i.is_active then 'inactive item'
    end;

-- The include_only rule of customer c that item i does not satisfy (step 8), or NULL: a
-- customer matched by include_only rules only gets items that every one of them allows.
create or replace macro recsql_not_included_by(c, i) as
    case
        when not list_has_all(i.rule_keys, c.include_only_rules)
            then 'rule ' || list_sort(
                list_filter(c.include_only_rules, lambda r: not list_contains(i.rule_keys, r))
            )[1]
    end;

-- The factor boost rules give item i for customer c (step 11): the product of the values of
-- every boost rule matching both; 1 when none does.
create or replace macro recsql_boost(c, i) as
    coalesce(
        list_product(
            list_transform(
                list_filter(c.boosts, lambda b: list_contains(i.rule_keys, b.rule_key)),
                lambda b: b.factor
            )
        ),
        1.0
    );

-- The sustainability nudge (step 10): items greener than what the customer usually buys
-- (their spend-weighted average sustainability score) get their score raised by `nudge`.
create or replace macro recsql_nudge(c, i, nudge) as
    case
        when nudge > 0 and i.sustainability_score > c.sustainability_average then 1 + nudge
        else 1.0
    end;

-- The boost rules that match both customer c and item i (step 11), by rule key.
create or replace macro recsql_boosted_by(c, i) as
    list_transform(list_filter(c.boosts, lambda b: list_contains(i.rule_keys, b.rule_key)),
        lambda b: b.rule_key);

-- The cap rules of customer c that count item i (step 9): {rule_key, cap} each. Items without a
-- category are never capped (the caps count items per category).
create or replace macro recsql_caps(c, i) as
    list_filter(
        c.caps, lambda cap: i.category is not null and list_contains(i.rule_keys, cap.rule_key)
    );
