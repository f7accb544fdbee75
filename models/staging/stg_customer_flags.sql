{#- The accepted rows of the customer_flags input (rejected rows are in quarantined_rows). -#}
select
    * exclude (
        _source_row, _load_error, row_json, _source_file, _source_line, rejection_reason
    )
from {{ ref('stg_customer_flags_validated') }}
where rejection_reason is null
