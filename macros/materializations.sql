{#- The project's `table` and `view` materializations: dbt-duckdb's and dbt's, with one
    statement where they have three.

    dbt writes a model's table (or view) under a temporary name, renames the one it replaces to
    a backup name, renames the new one into place and drops the backup: two renames and a drop,
    each a macro call that builds its own Jinja context - about 15 ms of dbt's Python per model,
    and the demo build has ~100 models (measured: the demo build 22.2 -> 21.0 s, dbt's elapsed
    time 18.5 -> 17.5 s, three alternating runs each). Here the old relation, if any, is
    dropped and the new one created in the SQL model's one transaction: DuckDB's DDL is
    transactional, so a reader sees the old relation or the new one and nothing in between,
    and a failed model leaves the old one as it was. A Python model's table is written on a
    cursor of its own, which the model's transaction would hide a drop from: its old table is
    dropped first. A `recsql build` always starts from a new database (nothing to replace); a
    `dbt build` run again on the same database replaces every relation, as before
    (tests/test_materializations.py).

    Everything else is as dbt-duckdb 1.11 does it for a relation without foreign keys (recsql
    declares none): both languages of a table, the hooks, `partitioned_by` and `sorted_by`,
    grants and persisted docs. -#}
{% materialization table, adapter="duckdb", supported_languages=['sql', 'python'] %}

  {%- set language = model['language'] -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set grant_config = config.get('grants') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {% if language == 'python' and existing_relation is not none %}
    {#- a Python model's table is written on a cursor of its own, outside this connection's
        transaction, which would still see the old one: it is dropped first, on its own -#}
    {{ adapter.drop_relation(existing_relation) }}
  {% endif %}
  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {%- set partitioned_by = duckdb__get_partitioned_by(target_relation, false) -%}
  {%- set sorted_by = duckdb__get_sorted_by(target_relation, false) -%}
  {% call statement('main', language=language) -%}
    {{- replaced(existing_relation, language) }}
    {{- create_table_as(False, target_relation, compiled_code, language, partitioned_by=partitioned_by, sorted_by=sorted_by) }}
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}

  {% set should_revoke = should_revoke(existing_relation, full_refresh_mode=True) %}
  {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
  {% do persist_docs(target_relation, model) %}

  -- `COMMIT` happens here
  {{ adapter.commit() }}

  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}

{% materialization view, adapter="duckdb" %}

  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set grant_config = config.get('grants') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% call statement('main') -%}
    {{- replaced(existing_relation, 'sql') }}
    {{ get_create_view_as_sql(target_relation, sql) }}
  {%- endcall %}

  {% set should_revoke = should_revoke(existing_relation, full_refresh_mode=True) %}
  {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
  {% do persist_docs(target_relation, model) %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}

  -- `COMMIT` happens here
  {{ adapter.commit() }}

  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}

{#- The statement that drops the relation a SQL model replaces, run with the statement that
    creates the new one: in the same transaction. -#}
{% macro replaced(existing_relation, language) -%}
  {%- if language == 'sql' and existing_relation is not none -%}
    {%- do adapter.cache_dropped(existing_relation) -%}
    drop {{ existing_relation.type }} if exists {{ existing_relation }} cascade;
  {%- endif -%}
{%- endmacro %}
