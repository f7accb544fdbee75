{#- Every rejected input row, with the reason, the row as it was read (JSON) and where it is:
    the file (relative to the input directory) and the line a CSV row starts on (a Parquet
    row's number). With the accepted rows of the staging models, this accounts for every row
    read.
    A row that names a customer who asked to be forgotten (erasure_requests: their id, as a
    whole word, anywhere in the row - a malformed line too, whatever tenant it names) keeps its
    place, table, file, line and reason, so that the accounting holds, but not its values:
    its `row_json` is NULL (docs/privacy.md). An erased id that is also a common word blanks
    the other rows it appears in as well: values are hidden, never shown by mistake. -#}
select
    source_table,
    tenant_id,
    reason,
    row_json,
    source_file,
    source_line
from {{ ref('int_rejected_rows') }}
