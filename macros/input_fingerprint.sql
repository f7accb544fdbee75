{#- Each tenant's input fingerprint (docs/lifecycle.md): an md5 over recsql's code (var
    code_fingerprint), the tenant's settings and the sums of its rows' hashes per input table
    and of every tenant's rules (`*`). `settings`: a relation with tenant_id and settings_json;
    `summed`: one with tenant_id, input_table and rows_hash (the tenant '*' for the rules of
    every tenant). One row per tenant of `settings`: tenant_id, input_fingerprint. -#}
{% macro input_fingerprint(settings, summed) -%}
    select * from (
        with

        everyone as (
            select input_table, rows_hash from {{ summed }} where tenant_id = '*'
        ),

        parts as (
            select settings.tenant_id, summed.input_table, summed.rows_hash
            from {{ settings }} as settings
            inner join {{ summed }} as summed on settings.tenant_id = summed.tenant_id
            union all
            select settings.tenant_id, '*' || everyone.input_table as input_table, everyone.rows_hash
            from {{ settings }} as settings
            cross join everyone
        )

        select
            settings.tenant_id,
            md5(concat_ws(
                '|',
                '{{ var("code_fingerprint", "") }}',
                settings.settings_json,
                string_agg(
                    parts.input_table || '=' || parts.rows_hash, ',' order by parts.input_table
                )
            )) as input_fingerprint
        from {{ settings }} as settings
        left join parts on settings.tenant_id = parts.tenant_id
        group by settings.tenant_id, settings.settings_json
    )
{%- endmacro %}
