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

-- recommend_for_items(tenant_id, item_ids, k): for a cart or a session with no known customer:
-- the items most similar to the given ones (summed over them), then popular items, never one
-- of the given items.
create or replace macro recommend_for_items(tenant_id, item_ids, k := 10) as table
with neighbours as (
    select s.similar_item_id as item_id, sum(s.score) as score, 1 as source_order
    from similar_items as s
    where s.tenant_id = tenant_id and list_contains(item_ids, s.item_id)
    group by s.similar_item_id
),
fill as (
    select p.item_id, p.score, 2 as source_order
    from popular_items as p
    where p.tenant_id = tenant_id and p.country is null
),
candidates as (
    select c.*
    from (select * from neighbours union all select * from fill) as c
    where not list_contains(item_ids, c.item_id)
    qualify row_number() over (partition by c.item_id order by c.source_order) = 1
)
select
    tenant_id as tenant_id,
    row_number() over (order by c.source_order, c.score desc, c.item_id) as rank,
    c.item_id,
    c.score,
    case c.source_order when 1 then 'bought with your items' else 'popular' end as reason
from candidates as c
order by rank
limit k;

-- popular(tenant_id, country, k): the most popular items in a country; with country NULL or a
-- country that has no list of its own, the tenant's overall list.
create or replace macro popular(tenant_id, country := null, k := 10) as table
with lists as (
    select
        p.*,
        dense_rank() over (order by (p.country is not distinct from country) desc) as preference
    from popular_items as p
    where p.tenant_id = tenant_id and (p.country = country or p.country is null)
)
select l.tenant_id, l.country, l.rank, l.item_id, l.score
from lists as l
where l.preference = 1 and l.rank <= k
order by l.rank;
