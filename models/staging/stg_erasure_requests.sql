{#- The accepted rows of the erasure_requests input (rejected rows are in quarantined_rows). -#}
select
    * exclude (
        _source_row, _load_error, row_json, _source_file, _source_line, rejection_reason
    )
from {{ ref('stg_erasure_requests_validated') }}
where rejection_reason is null
