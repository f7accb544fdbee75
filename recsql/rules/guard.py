"""Business rules: conditions written by analysts, checked before anything runs them.

The guard
---------
A rule's ``customer_condition`` and ``item_condition`` are SQL boolean expressions written by
analysts (the ``rules`` input table). The guard is the only way such text reaches DuckDB:

1. an empty condition (``None``, ``''``, only whitespace) matches everything and renders as
   ``None``;
2. the text is at most :data:`MAX_CONDITION_LENGTH` characters, contains no comment and no
   ``;``, and nests brackets and ``CASE`` at most :data:`MAX_NESTING` levels deep;
3. it is parsed with sqlglot (``read="duckdb"``) and must be exactly one expression;
4. every node of the syntax tree is checked against an allowlist (below); the first node that is
   not allowed, walking from the root, is reported: the smallest part of the condition that is
   not allowed as a whole, e.g. the subquery in ``price > (select max(price) from items)``;
5. what runs is the tree rendered again (``tree.sql(dialect="duckdb")``), never the raw text;
   the rendering must parse back to itself, so the same SQL runs however often it is checked.

The guard itself never opens a database.

What a condition may contain
~~~~~~~~~~~~~~~~~~~~~~~~~~~~
- **columns**: the allowed column names given by the caller, unqualified (``category``, not
  ``items.category``), matched case-insensitively and rendered in lower case. The documented
  columns are :data:`CUSTOMER_COLUMNS` and :data:`ITEM_COLUMNS`; callers add the extra attribute
  columns of their customer or item table (``loyalty_points > 100``).
- **literals**: strings, numbers, ``TRUE``/``FALSE``, ``NULL``, list literals ``['a', 'b']``,
  parentheses, typed literals such as ``DATE '2024-01-01'``.
- **comparisons**: ``=``, ``<>``/``!=``, ``<``, ``<=``, ``>``, ``>=``, ``IS [NOT] NULL``,
  ``IS [NOT] TRUE/FALSE``, ``IS [NOT] DISTINCT FROM``, ``[NOT] IN (value, ...)``,
  ``[NOT] BETWEEN``, ``[NOT] LIKE``, ``[NOT] ILIKE``.
- **logic and arithmetic**: ``AND``, ``OR``, ``NOT``, ``+ - * / %``, unary minus, string
  concatenation ``||``, ``CASE [x] WHEN ... THEN ... [ELSE ...] END``.
- **casts**: ``CAST``/``TRY_CAST``/``::`` to ``varchar``, ``integer``, ``bigint``, ``double``,
  ``boolean``, ``date``, ``timestamp``.
- **functions** (:data:`ALLOWED_FUNCTIONS`): ``lower``, ``upper``, ``trim``, ``length``,
  ``coalesce``, ``nullif``, ``abs``, ``round``, ``floor``, ``ceil``, ``least``, ``greatest``,
  ``list_contains``, ``contains``, ``starts_with``, ``ends_with``, ``year``, ``month``, ``day``,
  ``date_diff``/``datediff`` (with a literal date part such as ``'day'``), ``current_date``.
  Other spellings that sqlglot reads as the same function are accepted and rendered in its
  canonical form (``len`` -> ``LENGTH``, ``ifnull`` -> ``COALESCE``, ``ceiling`` -> ``CEIL``,
  ``list_has`` -> ``ARRAY_CONTAINS``).

Everything else is refused with a :class:`ConditionError` naming the offending part and what kind
of thing it is: queries and subqueries (``SELECT``, ``EXISTS``, ``UNION``), tables and table
functions (``read_csv``, ``query``, ``range``, ...), statements (DDL, DML, ``PRAGMA``, ``ATTACH``,
``COPY``, ``SET``, ``INSTALL``, ``LOAD``, ``CALL``, ...), a second statement, unknown or qualified
columns, ``*``, functions not in the list (``getenv``, ``current_setting``, macros, ...),
aggregates, window functions, lambdas, parameters (``?``, ``$1``), comments, unparseable text, and
conditions that are too long or too deeply nested.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError
from sqlglot.tokens import Token, TokenType

logger = logging.getLogger(__name__)

# =================================================================================================
# The guard: rule conditions parsed, checked against an allowlist and rendered again
# =================================================================================================

#: The documented customer columns a ``customer_condition`` may use (plus extra attributes).
CUSTOMER_COLUMNS: tuple[str, ...] = ("customer_id", "country", "age", "flags")

#: The documented item columns an ``item_condition`` may use (plus extra attributes).
ITEM_COLUMNS: tuple[str, ...] = (
    "item_id",
    "name",
    "category",
    "brand",
    "price",
    "min_age",
    "sustainability_score",
    "is_active",
    "launched_at",
)

#: Longest condition accepted, in characters.
MAX_CONDITION_LENGTH = 2_000

#: Deepest nesting of brackets (``( [ {``) and ``CASE`` accepted in the text.
MAX_NESTING = 16

#: Deepest syntax tree accepted; a flat chain such as ``a OR b OR c`` counts as one level.
MAX_DEPTH = 48

#: Longest offending part and condition quoted in an error message, in characters.
_QUOTE_LENGTH = 200

_DIALECT = "duckdb"

#: The allowed scalar functions, by the sqlglot class they parse to and their canonical name.
_FUNCTION_CLASSES: dict[type[exp.Expr], str] = {
    exp.Lower: "lower",
    exp.Upper: "upper",
    exp.Trim: "trim",
    exp.Length: "length",
    exp.Coalesce: "coalesce",
    exp.Nullif: "nullif",
    exp.Abs: "abs",
    exp.Round: "round",
    exp.Floor: "floor",
    exp.Ceil: "ceil",
    exp.Least: "least",
    exp.Greatest: "greatest",
    exp.ArrayContains: "list_contains",
    exp.Contains: "contains",
    exp.StartsWith: "starts_with",
    exp.EndsWith: "ends_with",
    exp.Year: "year",
    exp.Month: "month",
    exp.Day: "day",
    exp.DateDiff: "date_diff",
    exp.CurrentDate: "current_date",
}

#: The scalar functions a condition may call, by lower-case name. A name sqlglot does not know
#: (an ``Anonymous`` function) is allowed when it is in this set.
ALLOWED_FUNCTIONS: frozenset[str] = frozenset({*_FUNCTION_CLASSES.values(), "datediff"})

#: Date parts ``date_diff`` may count (sqlglot keeps the part as upper-case text).
_DATE_PARTS: frozenset[str] = frozenset(
    f"{part}{plural}"
    for part in ("YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND")
    for plural in ("", "S")
)

_DType = exp.DataType.Type
#: The types ``CAST``/``TRY_CAST`` may convert to (sqlglot reads ``varchar`` as TEXT and
#: ``timestamp`` as TIMESTAMPNTZ).
_CAST_TYPES: frozenset[object] = frozenset(
    {
        _DType.TEXT,
        _DType.VARCHAR,
        _DType.INT,
        _DType.BIGINT,
        _DType.DOUBLE,
        _DType.BOOLEAN,
        _DType.DATE,
        _DType.TIMESTAMP,
        _DType.TIMESTAMPNTZ,
    }
)

_BINARY = ("this", "expression")
#: Every node class a condition may contain (beyond columns, cast types and date parts, which are
#: checked on their own), with the arguments that may hold a child expression. A child under any
#: other argument is refused, so that e.g. ``x IN (SELECT ...)`` or ``x IN some_list`` are not
#: allowed just because ``IN`` is.
_ALLOWED_NODES: dict[type[exp.Expr], tuple[str, ...]] = {
    # literals
    exp.Literal: (),
    exp.Boolean: (),
    exp.Null: (),
    exp.Array: ("expressions",),
    exp.Paren: ("this",),
    # comparisons
    exp.EQ: _BINARY,
    exp.NEQ: _BINARY,
    exp.LT: _BINARY,
    exp.LTE: _BINARY,
    exp.GT: _BINARY,
    exp.GTE: _BINARY,
    exp.Is: _BINARY,
    exp.NullSafeEQ: _BINARY,
    exp.NullSafeNEQ: _BINARY,
    exp.In: ("this", "expressions"),
    exp.Between: ("this", "low", "high"),
    exp.Like: _BINARY,
    exp.ILike: _BINARY,
    # logic and arithmetic
    exp.And: _BINARY,
    exp.Or: _BINARY,
    exp.Not: ("this",),
    exp.Add: _BINARY,
    exp.Sub: _BINARY,
    exp.Mul: _BINARY,
    exp.Div: _BINARY,
    exp.Mod: _BINARY,
    exp.Neg: ("this",),
    exp.DPipe: _BINARY,
    exp.Case: ("this", "ifs", "default"),
    exp.If: ("this", "true", "false"),  # only as a WHEN branch of CASE, see _check_node
    exp.Cast: ("this", "to"),
    exp.TryCast: ("this", "to"),
    # functions
    exp.Lower: ("this",),
    exp.Upper: ("this",),
    exp.Trim: _BINARY,
    exp.Length: ("this",),
    exp.Coalesce: ("this", "expressions"),
    exp.Nullif: _BINARY,
    exp.Abs: ("this",),
    exp.Round: ("this", "decimals"),
    exp.Floor: ("this", "decimals"),
    exp.Ceil: ("this", "decimals"),
    exp.Least: ("this", "expressions"),
    exp.Greatest: ("this", "expressions"),
    exp.ArrayContains: _BINARY,
    exp.Contains: _BINARY,
    exp.StartsWith: _BINARY,
    exp.EndsWith: _BINARY,
    exp.Year: ("this",),
    exp.Month: ("this",),
    exp.Day: ("this",),
    exp.DateDiff: ("this", "expression", "unit"),
    exp.CurrentDate: (),
    exp.Anonymous: ("expressions",),  # only for names in ALLOWED_FUNCTIONS
}

#: Binary nodes that chain flat (``a AND b AND c``): a chain counts as one level of depth.
_CHAINS: tuple[type[exp.Expr], ...] = (exp.And, exp.Or, exp.Add, exp.Sub, exp.Mul, exp.DPipe)

#: Names of DuckDB table functions, only to say "a table function" in a message: whether a
#: function is allowed is decided by the allowlist above, never by this list.
_TABLE_FUNCTION_NAMES: frozenset[str] = frozenset(
    {
        "read_csv",
        "read_csv_auto",
        "read_parquet",
        "parquet_scan",
        "read_json",
        "read_json_auto",
        "read_ndjson",
        "read_text",
        "read_blob",
        "read_xlsx",
        "sniff_csv",
        "glob",
        "query",
        "query_table",
        "range",
        "generate_series",
        "unnest",
        "iceberg_scan",
        "delta_scan",
        "sqlite_scan",
        "postgres_scan",
    }
)
_TABLE_FUNCTION_CLASSES: tuple[type[exp.Expr], ...] = (
    exp.ReadCSV,
    exp.ReadParquet,
    exp.GenerateSeries,
    exp.Unnest,
    exp.Explode,
)

#: Where sqlglot defines statement nodes (PRAGMA, ATTACH, SET, INSTALL, COPY, ...); only to say
#: "a ... statement" in a message.
_STATEMENT_MODULES = frozenset({"sqlglot.expressions.ddl", "sqlglot.expressions.dml"})

#: Readable names of some refused nodes, for messages.
_NODE_NAMES: dict[type[exp.Expr], str] = {
    exp.Bracket: "list or map indexing",
    exp.Struct: "a struct literal",
    exp.Interval: "an interval (use date_diff)",
    exp.Tuple: "a row of values",
    exp.Alias: "an alias (AS)",
    exp.Dot: "field access",
    exp.Escape: "LIKE ... ESCAPE",
    exp.Identifier: "a bare identifier",
}

#: Token types that open and close a nesting level, for the nesting limit.
_OPENERS = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE, TokenType.CASE})
_CLOSERS = frozenset({TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE, TokenType.END})


class ConditionError(ValueError):
    """A condition the guard refuses.

    Attributes
    ----------
    offending : str
        The offending part of the condition, as SQL (the smallest node that is not allowed, or the
        text near a syntax error).
    reason : str
        What kind of thing the offending part is and why it is refused, e.g. ``"a subquery"``.
    """

    def __init__(self, offending: str, reason: str) -> None:
        self.offending = offending
        self.reason = reason
        super().__init__(f"{reason}: {offending}")


class RuleError(ValueError):
    """A rule that cannot run, naming the tenant, the rule, the condition and the offending part.

    For example ``rule 'r7' of tenant 't1': item_condition "category = (select ...)" is not
    allowed: a subquery: (SELECT ...)``.

    Attributes
    ----------
    tenant_id, rule_id : str
        The rule's tenant (``'*'`` for every tenant) and id.
    side : str
        ``"customer_condition"`` or ``"item_condition"``.
    condition : str
        The condition as written.
    offending, reason : str
        As in :class:`ConditionError`.
    """

    def __init__(
        self,
        tenant_id: str,
        rule_id: str,
        side: str,
        condition: str,
        offending: str,
        reason: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.rule_id = rule_id
        self.side = side
        self.condition = condition
        self.offending = offending
        self.reason = reason
        quoted = _shorten(" ".join(condition.split()))
        super().__init__(
            f'rule {rule_id!r} of tenant {tenant_id!r}: {side} "{quoted}" is not allowed: '
            f"{reason}: {offending}"
        )


def render_condition(text: str | None, columns: Iterable[str]) -> str | None:
    """The condition re-rendered from its syntax tree (DuckDB SQL), or None for an empty condition.

    Parameters
    ----------
    text : str or None
        The condition as an analyst wrote it. ``None``, ``''`` and whitespace mean "matches
        everything".
    columns : iterable of str
        The column names the condition may use (case-insensitive), e.g.
        ``(*CUSTOMER_COLUMNS, "loyalty_points")``.

    Returns
    -------
    str or None
        The SQL to run: rendered from the checked syntax tree, columns in lower case, no comments.

    Raises
    ------
    ConditionError
        If the condition is anything but one allowed expression (see the module documentation).
    """
    if isinstance(columns, str):
        raise TypeError("columns must be an iterable of column names, not one string")
    if text is None or not text.strip():
        return None
    allowed = frozenset(column.lower() for column in columns)
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionError(
            _shorten(text),
            f"a condition of {len(text):,} characters (at most {MAX_CONDITION_LENGTH:,})",
        )
    rendered = _render(text, allowed, limit_nesting=True)
    # The rendering is what runs: it must read back as the same allowed expression. (Its
    # brackets may nest one level deeper than the text's: DATE '...' renders as CAST(...).)
    try:
        again = _render(rendered, allowed, limit_nesting=False)
    except ConditionError as error:
        again = f"refused: {error}"
    if again != rendered:
        raise ConditionError(
            _shorten(rendered), f"an expression that sqlglot does not render stably ({again})"
        )
    logger.debug("condition %r renders as %r", text, rendered)
    return rendered


def check_rule(
    tenant_id: str,
    rule_id: str,
    customer_condition: str | None,
    item_condition: str | None,
    customer_columns: Iterable[str],
    item_columns: Iterable[str],
) -> tuple[str | None, str | None]:
    """Both conditions of a rule rendered (None where empty), or a :class:`RuleError`.

    ``customer_columns`` and ``item_columns`` are all the columns each condition may use: the
    documented ones (:data:`CUSTOMER_COLUMNS`, :data:`ITEM_COLUMNS`) plus the tables' extra
    attribute columns.
    """
    rendered: list[str | None] = []
    for side, condition, columns in (
        ("customer_condition", customer_condition, customer_columns),
        ("item_condition", item_condition, item_columns),
    ):
        try:
            rendered.append(render_condition(condition, columns))
        except ConditionError as error:
            logger.debug("rule %r of tenant %r refused: %s", rule_id, tenant_id, error)
            raise RuleError(
                tenant_id, rule_id, side, condition or "", error.offending, error.reason
            ) from error
    return rendered[0], rendered[1]


def _render(text: str, allowed: frozenset[str], *, limit_nesting: bool) -> str:
    """Check one condition against the allowlist and render it; raise ConditionError."""
    tokens = _tokenize(text, limit_nesting=limit_nesting)
    tree = _parse_one(text, tokens)
    _check_tree(tree, allowed)
    try:
        return tree.sql(dialect=_DIALECT, comments=False, unsupported_level=ErrorLevel.RAISE)
    except RecursionError:
        raise ConditionError(_shorten(text), "an expression nested too deeply") from None
    except Exception as error:  # anything sqlglot cannot render is refused, never run
        raise ConditionError(
            _shorten(text), f"an expression that cannot be rendered ({error})"
        ) from error


def _tokenize(text: str, *, limit_nesting: bool) -> list[Token]:
    """The condition's tokens, after the checks that need no syntax tree."""
    try:
        tokens = sqlglot.tokenize(text, read=_DIALECT)
    except Exception as error:  # TokenError, or anything else sqlglot raises on odd input
        raise ConditionError(_shorten(text), f"unparseable SQL ({error})") from None
    for token in tokens:
        if token.comments:
            raise ConditionError(
                _shorten(f"/*{token.comments[0]}*/"),
                "a comment (conditions may not contain comments; the rule's reason explains it)",
            )
    if not tokens:  # not blank (checked before), so only comments
        raise ConditionError(_shorten(text.strip()), "a comment and no expression")
    depth = 0
    for token in tokens if limit_nesting else ():
        if token.token_type in _OPENERS:
            depth += 1
            if depth > MAX_NESTING:
                raise ConditionError(
                    _shorten(text),
                    f"brackets or CASE nested more than {MAX_NESTING} levels deep",
                )
        elif token.token_type in _CLOSERS:
            depth -= 1
    return tokens


def _parse_one(text: str, tokens: list[Token]) -> exp.Expr:
    """Exactly one expression parsed from the tokens, or a ConditionError."""
    try:
        statements = sqlglot.Dialect.get_or_raise(_DIALECT).parser().parse(tokens, text)
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        where = first.get("highlight") or _shorten(text)
        what = first.get("description") or str(error)
        position = f", line {first.get('line')}, column {first.get('col')}" if first else ""
        raise ConditionError(_shorten(where), f"unparseable SQL ({what}{position})") from None
    except RecursionError:
        raise ConditionError(_shorten(text), "an expression nested too deeply") from None
    except Exception as error:  # anything else sqlglot raises on odd input: refuse, never run
        raise ConditionError(_shorten(text), f"unparseable SQL ({error})") from None
    parsed = [statement for statement in statements if statement is not None]
    if len(parsed) > 1:
        raise ConditionError(_sql(parsed[1]), "a second statement (a condition is one expression)")
    if any(token.token_type == TokenType.SEMICOLON for token in tokens):
        raise ConditionError(";", "a statement separator (a condition is one expression)")
    if not parsed:
        raise ConditionError(_shorten(text), "unparseable SQL (no expression)")
    return parsed[0]


def _check_tree(tree: exp.Expr, allowed: frozenset[str]) -> None:
    """Walk the tree from the root and raise for the first node that is not allowed.

    Allowed columns are rewritten in place to their lower-case names.
    """
    stack: list[tuple[exp.Expr, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConditionError(
                _sql(node), f"an expression nested more than {MAX_DEPTH} levels deep"
            )
        if node.comments:
            raise ConditionError(_sql(node), "a comment (conditions may not contain comments)")
        if _check_node(node, allowed):
            continue  # a leaf as far as the guard is concerned (column, cast type, date part)
        argument_keys = _ALLOWED_NODES[type(node)]
        children: list[tuple[exp.Expr, int]] = []
        for key, value in node.args.items():
            for child in value if isinstance(value, list) else [value]:
                if not isinstance(child, exp.Expr):
                    continue
                if key not in argument_keys:
                    raise ConditionError(_sql(child), _misplaced(child, node, key))
                chained = isinstance(node, _CHAINS) and type(child) is type(node)
                children.append((child, depth if chained else depth + 1))
        stack.extend(reversed(children))


def _check_node(node: exp.Expr, allowed: frozenset[str]) -> bool:
    """Raise if this node is not allowed; True if its children need no further checks."""
    kind = type(node)
    if isinstance(node, exp.Column) and kind is exp.Column:
        _check_column(node, allowed)
        return True
    if kind is exp.DataType:
        if (
            type(node.parent) in (exp.Cast, exp.TryCast)
            and node.arg_key == "to"
            and node.this in _CAST_TYPES
            and not any(isinstance(value, exp.Expr | list) for value in node.args.values())
        ):
            return True
        raise ConditionError(
            _sql(node),
            "a type that is not allowed (casts may convert to varchar, integer, bigint, "
            "double, boolean, date or timestamp)",
        )
    if kind is exp.Var:
        if type(node.parent) is exp.DateDiff and node.arg_key == "unit":
            if node.name.upper() in _DATE_PARTS:
                return True
            raise ConditionError(_sql(node), "a date part that date_diff does not count")
        raise ConditionError(_sql(node), "a bare keyword")
    if kind not in _ALLOWED_NODES:
        raise ConditionError(_sql(node), _describe(node))
    if kind is exp.Anonymous and node.name.lower() not in ALLOWED_FUNCTIONS:
        raise ConditionError(_sql(node), _describe(node))
    if kind is exp.If and not (type(node.parent) is exp.Case and node.arg_key == "ifs"):
        raise ConditionError(_sql(node), "a function that is not allowed (if; use CASE)")
    if kind is exp.Is and type(node.expression) not in (exp.Null, exp.Boolean):
        raise ConditionError(
            _sql(node), "IS with something other than NULL, TRUE or FALSE (use = instead)"
        )
    # sqlglot builds some nodes without their required arguments (``@`` alone is ABS()).
    missing = sorted(key for key in node.required_args if node.args.get(key) in (None, []))
    if missing:
        raise ConditionError(
            _sql(node), _article(f"{node.key.upper()} without its {', '.join(missing)}")
        )
    return False


def _check_column(column: exp.Column, allowed: frozenset[str]) -> None:
    """Raise unless the column is bare and allowed; rewrite its name in lower case."""
    if isinstance(column.this, exp.Star):
        raise ConditionError(_sql(column), "a star (*)")
    if any(column.args.get(part) is not None for part in ("table", "db", "catalog")):
        raise ConditionError(
            _sql(column), "a qualified column (write the bare column name, e.g. category)"
        )
    name = column.name.lower()
    if not isinstance(column.this, exp.Identifier) or name not in allowed:
        raise ConditionError(
            _sql(column), f"an unknown column (allowed: {', '.join(sorted(allowed)) or 'none'})"
        )
    column.set("this", exp.to_identifier(name))


def _describe(node: exp.Expr) -> str:
    """What kind of thing a refused node is, for the error message."""
    name = _function_name(node)
    if isinstance(node, exp.Command):
        return _article(f"{str(node.this).upper()} statement")
    if isinstance(node, exp.DDL | exp.DML) or type(node).__module__ in _STATEMENT_MODULES:
        return _article(f"{node.key.upper()} statement")
    if isinstance(node, exp.Exists):
        return "a subquery (EXISTS)"
    if isinstance(node, exp.Subquery):
        return "a subquery"
    if isinstance(node, exp.SetOperation):
        return f"a {node.key.upper()} query"
    if isinstance(node, exp.Query):
        return "a query" if node.parent is None else "a subquery"
    if isinstance(node, exp.Table):
        return "a table reference"
    if isinstance(node, _TABLE_FUNCTION_CLASSES) or name in _TABLE_FUNCTION_NAMES:
        return f"a table function ({name})"
    if isinstance(node, exp.Window):
        return "a window function"
    if isinstance(node, exp.AggFunc):
        return f"an aggregate function ({name})"
    if isinstance(node, exp.Lambda):
        return "a lambda"
    if isinstance(node, exp.Placeholder | exp.Parameter | exp.SessionParameter):
        return "a parameter placeholder"
    if isinstance(node, exp.Star):
        return "a star (*)"
    if isinstance(node, exp.Func) and type(node) not in _NODE_NAMES:
        return f"a function that is not allowed ({name})"
    if type(node) in _NODE_NAMES:
        return _NODE_NAMES[type(node)]
    return _article(f"{node.key.upper()} expression, which is not allowed")


def _article(words: str) -> str:
    """Words with "a" or "an" in front."""
    return f"{'an' if words[:1].lower() in 'aeiou' else 'a'} {words}"


def _misplaced(child: exp.Expr, parent: exp.Expr, key: str) -> str:
    """Why a child under an argument that is not allowed is refused."""
    if type(child) not in _ALLOWED_NODES and type(child) is not exp.Column:
        return _describe(child)
    if type(parent) is exp.In:
        return "IN without a parenthesised list of values"
    return f"not allowed as the {key} of {parent.key.upper()}"


def _function_name(node: exp.Expr) -> str:
    """A function's lower-case name (empty for nodes that are not functions)."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return ""


def _sql(node: exp.Expr) -> str:
    """A node as DuckDB SQL for an error message (shortened; never fails)."""
    try:
        text = node.sql(dialect=_DIALECT, comments=False)
    except Exception:  # rendering a refused node can fail; the message must not
        text = node.key.upper()
    return _shorten(text)


def _shorten(text: str) -> str:
    """Text cut to a readable length for an error message."""
    if len(text) <= _QUOTE_LENGTH:
        return text
    return text[: _QUOTE_LENGTH - 3] + "..."
