-- The objects clients query in a published recsql database: plain SQL views and table macros
-- over the tables in the schema recsql_data (no Python functions: every DuckDB client from
-- 1.4 on can run them). Executed by recsql/build/publish.py inside the new file.
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

create or replace view new_for_you as
select
    n.tenant_id, n.customer_id, n.rank, n.item_id, n.score, n.algorithm, n.reason,
    n.model_version, n.generated_at
from recsql_data.new_for_you as n;

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

-- the build that wrote this file: its id (as in the state database) and its clock (--as-of)
create or replace view build_info as
select b.build_id, b.as_of, b.recsql_version from recsql_data.build_info as b;

-- every version of every tenant's models and its status (docs/lifecycle.md), as the state
-- database holds it after this build
create or replace view model_registry as
select
    m.tenant_id, m.version, m.status, m.algorithm, m.variant, m.buy_again_algorithm,
    m.trained_at, m.data_until, m.ndcg, m.active_ndcg, m.reason, m.buy_again_ndcg,
    m.interactions, m.customers, m.items, m.input_fingerprint, m.parameters,
    m.library_versions
from recsql_data.model_registry as m;

-- per tenant: its mode, the version serving it, what the last build did for it and when its
-- lists were last built (docs/lifecycle.md)
create or replace view tenant_status as
select
    t.tenant_id, t.mode, t.active_version, t.last_outcome, t.last_reason, t.last_built_at
from recsql_data.tenant_status as t;

-- per published build and tenant: what the build did for the tenant, and why; fit_seconds:
-- the seconds the engine spent fitting and scoring its models (recsql/engine/journal.py);
-- carried: it kept its published lists, its inputs unchanged (docs/lifecycle.md)
create or replace view build_history as
select
    h.build_id, h.as_of, h.tenant_id, h.mode, h.trigger, h.outcome, h.reason, h.version,
    h.ndcg, h.active_ndcg, h.fit_seconds, h.carried
from recsql_data.build_history as h;

-- per tenant and erasure request, when a published build first applied it and how many input
-- rows of the customer it removed, by table (docs/privacy.md): no customer data, not even a
-- hash; `request` numbers a tenant's requests in the order they were applied
create or replace view erasure_log as
select
    e.tenant_id, e.request, e.requested_at, e.applied_at, e.build_id, e.interactions_removed,
    e.customers_removed, e.consents_removed, e.customer_flags_removed,
    e.quarantined_rows_blanked
from recsql_data.erasure_log as e;

create or replace view tenant_champions as
select c.* from recsql_data.tenant_champions as c;

create or replace view rule_decisions as
select d.tenant_id, d.shelf, d.rule, d.action, d.candidates, d.customers
from recsql_data.rule_decisions as d;

create or replace view quarantined_rows as
select q.source_table, q.tenant_id, q.reason, q.row_json, q.source_file, q.source_line
from recsql_data.quarantined_rows as q;

create or replace view input_row_counts as
select c.source_table, c.tenant_id, c.rows_read, c.rows_accepted, c.rows_quarantined
from recsql_data.input_row_counts as c;

create or replace view tenant_settings as
select t.* from recsql_data.tenant_settings as t;

-- The country whose visitor list popular() and recommend() serve someone from `of_country`: the
-- country itself where the build has a visitor state or a popular list for it (the rows of
-- recsql_data.visitor_popular_items for it: none, if the rules leave its visitors nothing),
-- else NULL (the list of a visitor of unknown country).
create or replace macro recsql_list_country(of_tenant, of_country) as (
    select max(known.country)
    from (
        select v.country
        from recsql_data.visitor_rule_states as v
        where v.tenant_id = of_tenant and v.country = of_country
        union all
        select l.country
        from recsql_data.popular_items as l
        where l.tenant_id = of_tenant and l.country = of_country
    ) as known
);

-- Whether the tenant knows the customer: one of its customers (recsql_data.customer_rule_states)
-- or one who asked to be forgotten (found by the salted hashes of
-- recsql_data.erased_customers, which hold no id).
create or replace macro recsql_is_customer(of_tenant, of_customer) as (
    exists (
        select 1 from recsql_data.customer_rule_states as c
        where c.tenant_id = of_tenant and c.customer_id = of_customer
    )
    or exists (
        -- one hash per call: the tenant's salt is the same on every row
        select 1 from recsql_data.erased_customers as e
        where e.tenant_id = of_tenant
            and e.customer_hash = (
                select sha256(any_value(s.salt) || of_tenant || chr(31) || of_customer)
                from recsql_data.erased_customers as s
                where s.tenant_id = of_tenant
            )
    )
);

-- recommend(tenant_id, customer_id, k, country): the customer's discover list, best first. A
-- customer the tenant does not know (NULL, or not recsql_is_customer) gets what popular() gives
-- a visitor from `country`; one it knows but withholds a list from (no marketing consent, a
-- `nothing` rule, the nothing threshold) or who asked to be forgotten gets no rows.
create or replace macro recommend(tenant_id, customer_id, k := 10, country := null) as table
select
    r.tenant_id, r.customer_id, r.rank, r.item_id, r.score, r.algorithm, r.reason,
    r.model_version, r.generated_at
from recommendations as r
where r.tenant_id = tenant_id and r.customer_id = customer_id and r.rank <= k
union all
select
    p.tenant_id, cast(customer_id as varchar) as customer_id, p.rank, p.item_id, p.score,
    'popularity' as algorithm, p.reason, p.model_version, p.generated_at
from recsql_data.visitor_popular_items as p
where p.tenant_id = tenant_id
    and p.rank <= k
    and p.country is not distinct from recsql_list_country(tenant_id, country)
    and not recsql_is_customer(tenant_id, customer_id)
order by rank;

-- buy_again(tenant_id, customer_id, k): items the customer is likely to buy again, best first.
create or replace macro buy_again(tenant_id, customer_id, k := 10) as table
select b.*
from buy_again as b
where b.tenant_id = tenant_id and b.customer_id = customer_id and b.rank <= k
order by b.rank;

-- new_for_you(tenant_id, customer_id, k): new items like what the customer bought, best first.
create or replace macro new_for_you(tenant_id, customer_id, k := 10) as table
select n.*
from new_for_you as n
where n.tenant_id = tenant_id and n.customer_id = customer_id and n.rank <= k
order by n.rank;

-- similar_items(tenant_id, item_id, k): items most often bought with the item.
create or replace macro similar_items(tenant_id, item_id, k := 10) as table
select s.*
from similar_items as s
where s.tenant_id = tenant_id and s.item_id = item_id and s.rank <= k
order by s.rank;

-- recommend_for_items(tenant_id, item_ids, k): for a cart or a session with no known customer:
-- the items most often bought with the given ones (similarity summed over them), then popular
-- items, never one of the given items; judged by the business rules as the build decided them
-- for a visitor of unknown country (recsql_data.rule_class_verdicts of that visitor's rule
-- class, which holds only the items the rules say something about; docs/rules.md): items the
-- rules do not allow go, boosts scale the score, a `nothing` rule leaves the list empty. Category caps count
-- every allowed candidate before an item (not only those kept), which may remove more than
-- the build's walk does, never less.
create or replace macro recommend_for_items(tenant_id, item_ids, k := 10) as table
with offered as (
    -- each item once, from its first source
    select o.item_id, min(o.source_order) as source_order, arg_min(o.score, o.source_order) as score
    from (
        select s.similar_item_id as item_id, 1 as source_order, sum(s.score) as score
        from recsql_data.similar_items as s
        where s.tenant_id = tenant_id and list_contains(item_ids, s.item_id)
        group by s.similar_item_id
        union all
        select p.item_id, 2 as source_order, p.score
        from recsql_data.popular_items as p
        where p.tenant_id = tenant_id and p.country is null
    ) as o
    where not list_contains(item_ids, o.item_id)
    group by o.item_id
),
judged as (
    select
        o.item_id,
        o.source_order,
        e.category,
        o.score * coalesce(e.boost, 1.0) as score,
        coalesce(e.caps, []) as caps,
        row_number() over (
            order by o.source_order, o.score * coalesce(e.boost, 1.0) desc, o.item_id
        ) as position
    from offered as o
    inner join recsql_data.visitor_rule_states as v
        on v.tenant_id = tenant_id and v.country is null and v.nothing_rule is null
    left join recsql_data.rule_class_verdicts as e
        on e.tenant_id = tenant_id and e.rule_class = v.rule_class and e.item_id = o.item_id
    where e.blocked_by is null and e.not_included_by is null
),
over_cap as (
    select c.item_id
    from (
        select j.item_id, j.category, j.position, unnest(j.caps) as cap
        from judged as j
        where len(j.caps) > 0 and j.category is not null
    ) as c
    qualify row_number() over (partition by c.cap.rule_key, c.category order by c.position)
        > c.cap.cap
)
select
    tenant_id as tenant_id,
    row_number() over (order by j.position) as rank,
    j.item_id,
    j.score,
    case when j.source_order = 1 then 'bought with your items' else 'popular' end as reason
from judged as j
where j.item_id not in (select x.item_id from over_cap as x)
order by rank
limit k;

-- popular(tenant_id, country, k): the most popular items in a country that a visitor from
-- there may be shown (the rules as in recommend_for_items); with country NULL or a country the
-- build has neither a list nor a visitor for, the tenant's overall list for an unknown
-- visitor. The build makes these lists (recsql_data.visitor_popular_items): a call is a lookup.
create or replace macro popular(tenant_id, country := null, k := 10) as table
select
    p.tenant_id, cast(country as varchar) as country, p.rank, p.item_id, p.score, p.reason
from recsql_data.visitor_popular_items as p
where p.tenant_id = tenant_id
    and p.rank <= k
    and p.country is not distinct from recsql_list_country(tenant_id, country)
order by p.rank;

-- rank_items(tenant_id, customer_id, item_ids): the given items (a search result, a category
-- page) in the order the customer is most likely to want them; recsql/serving/lists.py
-- (ranked) mirrors it for recsql.open(...).rank and the HTTP API. A customer the tenant knows is
-- judged by their rule class (no rows for one it withholds a discover list from or who asked
-- to be forgotten); anyone else as a visitor of unknown country. Items the rules do not allow
-- them go, and so do ids the catalogue does not hold. The others are ranked within each source
-- that knows them (the customer's discover and buy-again lists by rank; what their purchases
-- were bought with, similarity summed, for personalized customers; the tenant's popularity by
-- rank), fused by reciprocal rank (1 / (60 + rank) summed) and multiplied by their boost; ties
-- and items no source knows (score 0) keep the given order. Category caps and the
-- sustainability nudge are not applied: the caller's items are ranked, not a list assembled.
create or replace macro rank_items(tenant_id, customer_id, item_ids) as table
with given as (
    select g.item_id, min(g.position) as position
    from (
        select unnest(item_ids) as item_id, generate_subscripts(item_ids, 1) as position
    ) as g
    group by g.item_id
),
person as (
    select c.rule_class, d.is_personalized
    from recsql_data.customer_rule_states as c
    inner join recsql_data.customer_shelves as d
        on d.tenant_id = c.tenant_id and d.customer_id = c.customer_id and d.shelf = 'discover'
    where c.tenant_id = tenant_id and c.customer_id = customer_id and not c.is_visitor
        and d.withheld_by is null
    union all
    select v.rule_class, false as is_personalized
    from recsql_data.visitor_rule_states as v
    where v.tenant_id = tenant_id and v.country is null and v.nothing_rule is null
        and not recsql_is_customer(tenant_id, customer_id)
),
candidates as (
    select g.item_id, g.position, coalesce(e.boost, 1.0) as boost
    from given as g
    cross join person as p
    inner join recsql_data.item_rule_states as i
        on i.tenant_id = tenant_id and i.item_id = g.item_id
    inner join recsql_data.tenant_settings as t
        on t.tenant_id = tenant_id and t.mode <> 'off'
    left join recsql_data.rule_class_verdicts as e
        on e.tenant_id = tenant_id and e.rule_class = p.rule_class and e.item_id = g.item_id
    where e.blocked_by is null and e.not_included_by is null
),
cooccurring as (
    select s.similar_item_id as item_id, sum(s.score) as score
    from recsql_data.bought_items as b
    inner join recsql_data.similar_items as s
        on s.tenant_id = tenant_id and s.item_id = b.item_id
    where b.tenant_id = tenant_id and b.customer_id = customer_id
        and (select bool_or(p.is_personalized) from person as p)
        and s.similar_item_id in (select c.item_id from candidates as c)
    group by s.similar_item_id
),
sourced as (
    select r.item_id, 1 as source_order, -r.rank as value, r.reason, r.algorithm
    from recsql_data.recommendations as r
    where r.tenant_id = tenant_id and r.customer_id = customer_id
        and r.item_id in (select c.item_id from candidates as c)
    union all
    select b.item_id, 2 as source_order, -b.rank as value, b.reason, b.algorithm
    from recsql_data.buy_again as b
    where b.tenant_id = tenant_id and b.customer_id = customer_id
        and b.item_id in (select c.item_id from candidates as c)
    union all
    select o.item_id, 3 as source_order, o.score as value, 'bought with what you bought' as reason,
        'cooccurrence' as algorithm
    from cooccurring as o
    union all
    select p.item_id, 4 as source_order, -p.rank as value, 'popular' as reason,
        'popularity' as algorithm
    from recsql_data.popular_items as p
    where p.tenant_id = tenant_id and p.country is null
        and p.item_id in (select c.item_id from candidates as c)
),
ranked as (
    select
        s.item_id, s.source_order, s.reason, s.algorithm,
        row_number() over (partition by s.source_order order by s.value desc, s.item_id)
            as source_rank
    from sourced as s
),
fused as (
    select
        r.item_id,
        sum(1.0 / (60 + r.source_rank)) as score,
        arg_min(r.reason, r.source_rank * 10 + r.source_order) as reason,
        arg_min(r.algorithm, r.source_rank * 10 + r.source_order) as algorithm
    from ranked as r
    group by r.item_id
)
select
    cast(tenant_id as varchar) as tenant_id,
    cast(customer_id as varchar) as customer_id,
    row_number() over (order by coalesce(f.score, 0.0) * c.boost desc, c.position) as rank,
    c.item_id,
    coalesce(f.score, 0.0) * c.boost as score,
    coalesce(f.reason, 'in the order given') as reason,
    coalesce(f.algorithm, 'none') as algorithm
from candidates as c
left join fused as f on f.item_id = c.item_id
order by rank;
