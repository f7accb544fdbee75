{#- Generated from recsql/contract.py (TENANT_SETTINGS) by `python -m recsql.contract`:
    edit the contract, not this file. The tenant settings in contract order: name, type
    (string, integer, number), default (none: empty), choices (strings), minimum,
    maximum, minimum_exclusive (the value must be greater than the minimum) and
    at_least (another setting this one may not be below). -#}
{% macro tenant_setting_definitions() -%}
    {{ return([
        {
            'name': 'mode', 'type': 'string', 'default': 'on',
            'choices': ['on', 'freeze', 'off'],
            'minimum': none, 'maximum': none, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'k', 'type': 'integer', 'default': 10,
            'choices': none,
            'minimum': 1, 'maximum': 1000, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'algorithm', 'type': 'string', 'default': 'auto',
            'choices': ['auto', 'popularity', 'cooccurrence', 'als', 'ease'],
            'minimum': none, 'maximum': none, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'half_life_days', 'type': 'number', 'default': 30,
            'choices': none,
            'minimum': 0, 'maximum': none, 'minimum_exclusive': true,
            'at_least': none,
        },
        {
            'name': 'holdout_days', 'type': 'number', 'default': 30,
            'choices': none,
            'minimum': 0, 'maximum': none, 'minimum_exclusive': true,
            'at_least': none,
        },
        {
            'name': 'evaluation_customers', 'type': 'integer', 'default': 20000,
            'choices': none,
            'minimum': 1, 'maximum': 100000000, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'candidates_n', 'type': 'integer', 'default': 50,
            'choices': none,
            'minimum': 1, 'maximum': 1000, 'minimum_exclusive': false,
            'at_least': 'k',
        },
        {
            'name': 'history_cap', 'type': 'integer', 'default': 50,
            'choices': none,
            'minimum': 1, 'maximum': 1000, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'similarity', 'type': 'string', 'default': 'jaccard',
            'choices': ['jaccard', 'lift', 'cosine', 'count'],
            'minimum': none, 'maximum': none, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'min_support', 'type': 'integer', 'default': 2,
            'choices': none,
            'minimum': 1, 'maximum': 1000000, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'similar_items_n', 'type': 'integer', 'default': 50,
            'choices': none,
            'minimum': 1, 'maximum': 1000, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'trending_days', 'type': 'integer', 'default': 7,
            'choices': none,
            'minimum': 1, 'maximum': 3650, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'trending_baseline_days', 'type': 'integer', 'default': 56,
            'choices': none,
            'minimum': 1, 'maximum': 3650, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'als_factors', 'type': 'integer', 'default': 32,
            'choices': none,
            'minimum': 1, 'maximum': 1024, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'als_regularization', 'type': 'number', 'default': 0.05,
            'choices': none,
            'minimum': 0, 'maximum': none, 'minimum_exclusive': true,
            'at_least': none,
        },
        {
            'name': 'als_alpha', 'type': 'number', 'default': 10,
            'choices': none,
            'minimum': 0, 'maximum': none, 'minimum_exclusive': true,
            'at_least': none,
        },
        {
            'name': 'als_iterations', 'type': 'integer', 'default': 15,
            'choices': none,
            'minimum': 1, 'maximum': 100, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'ease_lambda', 'type': 'number', 'default': 500,
            'choices': none,
            'minimum': 0, 'maximum': none, 'minimum_exclusive': true,
            'at_least': none,
        },
        {
            'name': 'ease_max_items', 'type': 'integer', 'default': 15000,
            'choices': none,
            'minimum': 1, 'maximum': 100000, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'no_consent_list', 'type': 'string', 'default': 'popular',
            'choices': ['popular', 'nothing'],
            'minimum': none, 'maximum': none, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'sustainability_nudge', 'type': 'number', 'default': 0,
            'choices': none,
            'minimum': 0, 'maximum': none, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'nothing_threshold', 'type': 'number', 'default': none,
            'choices': none,
            'minimum': none, 'maximum': none, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'ease_neighbours', 'type': 'integer', 'default': none,
            'choices': none,
            'minimum': 1, 'maximum': 100000, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'retrain_every_days', 'type': 'number', 'default': 1,
            'choices': none,
            'minimum': 0, 'maximum': none, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'retrain_new_data_share', 'type': 'number', 'default': 0.1,
            'choices': none,
            'minimum': 0, 'maximum': 1, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'retrain_drift', 'type': 'number', 'default': 0.3,
            'choices': none,
            'minimum': 0, 'maximum': 1, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'keep_versions', 'type': 'integer', 'default': 5,
            'choices': none,
            'minimum': 1, 'maximum': 1000, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'promotion_min_customers', 'type': 'integer', 'default': 50,
            'choices': none,
            'minimum': 1, 'maximum': none, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'promotion_margin', 'type': 'number', 'default': 0,
            'choices': none,
            'minimum': 0, 'maximum': 1, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'min_accepted_share', 'type': 'number', 'default': 0.5,
            'choices': none,
            'minimum': 0, 'maximum': 1, 'minimum_exclusive': false,
            'at_least': none,
        },
        {
            'name': 'new_item_days', 'type': 'number', 'default': 30,
            'choices': none,
            'minimum': 0, 'maximum': none, 'minimum_exclusive': true,
            'at_least': none,
        },
    ]) }}
{%- endmacro %}
