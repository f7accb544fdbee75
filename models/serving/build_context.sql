-- The build this run is: its id and clock, where it publishes and the state file recording it
-- (recsql build passes them as dbt vars; a plain dbt build keeps no state, and takes its id and
-- clock from when it started). A model rather than the publication's config because vars are
-- read here when the model runs, not when dbt parses the project: the parse is then the same
-- for every build, and recsql build reuses it (recsql/build/runner.py).
select
    '{{ build_id() }}' as build_id,
    {{ build_time() }} as as_of,
    '{{ var("publish_path") | replace("'", "''") }}' as publish_path,
    '{{ var("state_path", "") | replace("'", "''") }}' as state_path
