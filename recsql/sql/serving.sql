-- The objects clients query in a published recsql database: plain SQL views and table macros
-- over the tables in the schema recsql_data (no Python functions: every DuckDB client from
-- 1.4 on can run them). Executed by recsql/publish.py inside the new file.
-- Column references in macros are qualified by a table alias: a bare name is the parameter.

create or replace view recommendations as
select
    r.tenant_id, r.customer_id, r.rank, r.item_id, r.score, r.algorithm, r.reason,
    r.model_version, r.generated_at
from recsql_data.recommendations as r;

create or replace view popular_items as
select p.tenant_id, p.country, p.rank, p.item_id, p.score
from recsql_data.popular_items as p;

create or replace view items as
select i.tenant_id, i.item_id, i.name, i.category, i.brand, i.price, i.is_active
from recsql_data.items as i;

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
