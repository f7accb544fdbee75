-- The objects clients query in a published recsql database: plain SQL views and table macros
-- over the tables in the schema recsql_data (no Python functions: every DuckDB client from
-- 1.4 on can run them). Executed by recsql/publish.py inside the new file.
-- Column references in macros are qualified by a table alias: a bare name is the parameter.

create or replace view recommendations as
select
    r.tenant_id, r.customer_id, r.rank, r.item_id, r.score, r.algorithm, r.reason,
    r.model_version, r.generated_at
from recsql_data.recommendations as r;

create or replace view buy_again as
select
    b.tenant_id, b.customer_id, b.rank, b.item_id, b.score, b.algorithm, b.reason,
    b.model_version, b.generated_at
from recsql_data.buy_again as b;

create or replace view similar_items as
select s.tenant_id, s.item_id, s.rank, s.similar_item_id, s.score
from recsql_data.similar_items as s;

create or replace view popular_items as
select p.tenant_id, p.country, p.rank, p.item_id, p.score
from recsql_data.popular_items as p;

create or replace view trending_items as
select t.tenant_id, t.rank, t.item_id, t.score
from recsql_data.trending_items as t;

create or replace view items as
select i.tenant_id, i.item_id, i.name, i.category, i.brand, i.price, i.is_active
from recsql_data.items as i;

create or replace view model_evaluations as
select e.tenant_id, e.algorithm, e.variant, e.shelf, e.metric, e.value, e.customers
from recsql_data.model_evaluations as e;

create or replace view tenant_champions as
select c.* from recsql_data.tenant_champions as c;

create or replace view rule_decisions as
select d.tenant_id, d.shelf, d.rule, d.action, d.candidates, d.customers
from recsql_data.rule_decisions as d;

create or replace view quarantined_rows as
select q.source_table, q.tenant_id, q.reason, q.row_json
from recsql_data.quarantined_rows as q;

create or replace view input_row_counts as
select c.source_table, c.tenant_id, c.rows_read, c.rows_accepted, c.rows_quarantined
from recsql_data.input_row_counts as c;

create or replace view tenant_settings as
select t.* from recsql_data.tenant_settings as t;

-- recommend(tenant_id, customer_id, k): the customer's discover list, best first.
create or replace macro recommend(tenant_id, customer_id, k := 10) as table
select r.*
from recommendations as r
where r.tenant_id = tenant_id and r.customer_id = customer_id and r.rank <= k
order by r.rank;

-- buy_again(tenant_id, customer_id, k): items the customer is likely to buy again, best first.
create or replace macro buy_again(tenant_id, customer_id, k := 10) as table
select b.*
from buy_again as b
where b.tenant_id = tenant_id and b.customer_id = customer_id and b.rank <= k
order by b.rank;

-- similar_items(tenant_id, item_id, k): items most often bought with the item.
create or replace macro similar_items(tenant_id, item_id, k := 10) as table
select s.*
from similar_items as s
where s.tenant_id = tenant_id and s.item_id = item_id and s.rank <= k
order by s.rank;

-- visitor_list(tenant_id, country, candidates, k): the k best of `candidates` (a list of
-- structs {item_id, score, source_order, reason}) that a visitor from `country` (NULL =
-- unknown) may be shown, after the business rules as the build decided them for that visitor
-- (recsql_data.visitor_item_verdicts; docs/rules.md): items the rules do not allow go, boosts
-- and the nudge scale the score, a `nothing` rule leaves the list empty. Category caps count
-- every allowed candidate before an item (not only those kept), which may remove more than
-- the build's walk does, never less. A country with no visitor state of its own is judged as
-- unknown.
create or replace macro visitor_list(tenant_id, country, candidates, k) as table
with visitor as (
    select v.country, v.nothing_rule
    from recsql_data.visitor_rule_states as v
    where v.tenant_id = tenant_id and (v.country = country or v.country is null)
    order by v.country is not distinct from country desc
    limit 1
),
offered as (
    select u.c.item_id, u.c.score, u.c.source_order, u.c.reason
    from (select unnest(candidates) as c) as u
    qualify row_number() over (
        partition by u.c.item_id order by u.c.source_order, u.c.score desc
    ) = 1
),
judged as (
    select
        o.item_id,
        o.source_order,
        o.reason,
        a.category,
        o.score * a.factor as score,
        a.caps,
        row_number() over (order by o.source_order, o.score * a.factor desc, o.item_id)
            as position
    from offered as o
    inner join recsql_data.visitor_item_verdicts as a
        on a.tenant_id = tenant_id and a.item_id = o.item_id
    inner join visitor as v on a.country is not distinct from v.country
    where v.nothing_rule is null
),
over_cap as (
    select c.item_id
    from (
        select j.item_id, j.category, j.position, unnest(j.caps) as cap
        from judged as j
        where j.category is not null and len(j.caps) > 0
    ) as c
    qualify row_number() over (
        partition by c.cap.rule_key, c.category order by c.position
    ) > c.cap.cap
)
select
    tenant_id as tenant_id,
    row_number() over (order by j.position) as rank,
    j.item_id,
    j.score,
    j.reason
from judged as j
where j.item_id not in (select x.item_id from over_cap as x)
order by rank
limit k;

-- recommend_for_items(tenant_id, item_ids, k): for a cart or a session with no known customer:
-- the items most often bought with the given ones (similarity summed over them), then popular
-- items, never one of the given items; judged by the rules as for a visitor of unknown
-- country (visitor_list).
create or replace macro recommend_for_items(tenant_id, item_ids, k := 10) as table
with neighbours as (
    select s.similar_item_id as item_id, sum(s.score) as score
    from similar_items as s
    where s.tenant_id = tenant_id and list_contains(item_ids, s.item_id)
    group by s.similar_item_id
),
candidates as (
    select {
        'item_id': n.item_id, 'score': n.score, 'source_order': 1,
        'reason': 'bought with your items'
    } as c
    from neighbours as n
    union all
    select {'item_id': p.item_id, 'score': p.score, 'source_order': 2, 'reason': 'popular'}
    from popular_items as p
    where p.tenant_id = tenant_id and p.country is null
)
select l.*
from visitor_list(
    tenant_id,
    null,
    (
        select coalesce(list(c.c), [])
        from candidates as c
        where not list_contains(item_ids, c.c.item_id)
    ),
    k
) as l;

-- popular(tenant_id, country, k): the most popular items in a country that a visitor from
-- there may be shown (the rules as in visitor_list); with country NULL or a country that has
-- no list of its own, the tenant's overall list.
create or replace macro popular(tenant_id, country := null, k := 10) as table
with lists as (
    select
        p.*,
        dense_rank() over (order by (p.country is not distinct from country) desc) as preference
    from popular_items as p
    where p.tenant_id = tenant_id and (p.country = country or p.country is null)
),
candidates as (
    select coalesce(
        list(
            {
                'item_id': l.item_id, 'score': l.score, 'source_order': 1,
                'reason': case when l.country is null then 'popular'
                    else 'popular in ' || l.country end
            }
        ),
        []
    ) as c
    from lists as l
    where l.preference = 1
)
select l.tenant_id, country as country, l.rank, l.item_id, l.score, l.reason
from visitor_list(tenant_id, country, (select c.c from candidates as c), k) as l;
