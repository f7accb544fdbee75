{#- What one event adds to a customer's affinity for an item, seen from `reference_at`:
        weight(event_type) x log2(1 + quantity) x 0.5 ^ (age in days / half_life_days)
    with `weight` from seeds/event_types.csv (a return's is negative) and the age never below
    zero. The columns are passed as SQL expressions. -#}
{% macro interaction_affinity(weight, quantity, occurred_at, reference_at, half_life_days) -%}
    {{ weight }}
    * log2(1 + {{ quantity }})
    * pow(
        0.5,
        greatest(date_diff('second', {{ occurred_at }}, {{ reference_at }}), 0)
        / 86400.0 / {{ half_life_days }}
    )
{%- endmacro %}
