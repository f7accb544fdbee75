"""Convert the UCI Online Retail data set into recsql's input contract (the demo data).

The source is the "Online Retail" data set of the UCI Machine Learning Repository
(Chen, Sain & Guo 2012, doi:10.1057/dbm.2012.17, CC BY 4.0): 541,909 invoice lines of a
UK-based online giftware retailer, 2010-12-01 to 2011-12-09, shipped in
``data/online_retail/online_retail.parquet``. :func:`convert` turns it into the three
contract tables in ``data/demo/`` (single tenant: there is no ``tenant_id`` column):

``interactions`` — one row per kept invoice line (no aggregation, duplicate lines stay):

================  ==========================================================================
customer_id       ``CustomerID`` as text (``'17850'``); NULL on guest lines (no CustomerID).
item_id           ``StockCode``, trimmed and upper-cased: ``'85123a'`` and ``'85123A'`` are the
                  same product (the lower-case codes are web-shop lines of the same article).
occurred_at       ``InvoiceDate`` as a timestamp without zone (UK local time as recorded;
                  recsql reads a timestamp without offset as UTC).
event_type        ``'return'`` if ``InvoiceNo`` starts with ``'C'`` (a cancellation) or
                  ``Quantity < 0`` (stock adjustments, e.g. "damaged"); else ``'purchase'``.
quantity          ``abs(Quantity)`` (integer).
value             ``abs(Quantity * UnitPrice)``, rounded to 2 decimals (GBP).
session_id        ``InvoiceNo``.
================  ==========================================================================

A guest line keeps an empty (NULL) ``customer_id`` and its invoice as ``session_id``: recsql
counts it towards item popularity but creates no customer from it.

Lines that are not interactions, counted in the :class:`ConversionReport`:

- lines whose stock code is not a product (:data:`NON_PRODUCT_CODES`, matched on the
  trimmed, upper-cased code, and every gift voucher ``gift_0001_*``): postage and carriage
  (``POST``, ``DOT``, ``C2``, ``23444``), packing charge (``23574``), manual adjustments
  (``M``), discounts (``D``), bank charges, the Amazon fee, CRUK commission, samples
  (``S``), cushion-pad placeholder lines (``PADS``), bad-debt adjustments (``B``), an image
  service (``23702``) and gift vouchers (``gift_0001_*``, ``22016``). They are counted by
  their code as written in the source (``'M'`` and ``'m'`` separately);
- lines with ``Quantity = 0`` (none in the real file);
- stock movements: guest lines (no CustomerID) at ``UnitPrice <= 0``. They are stock notes
  written as invoice lines ("damaged", "found", "sold as set on dotcom", write-offs of up to
  19,200 units), not transactions of anyone: as interactions they would distort popularity.

A line is classified in that order: non-product first, then zero quantity, then stock
movement, then return or purchase.

Everything else with a 5-digit (+ letters) code is a product, and so are the ``DCGS*`` codes
of the web shop (named articles such as "BOYS PARTY BAG").

5,264 lines are exact duplicates of another line (the same article entered twice on one
invoice); they are kept as they are, and recsql's staging quarantines them as its contract
says for a duplicate row.

On the bundled file the conversion reads 541,909 lines and keeps 527,694 purchases and
8,701 returns (131,585 of them guest lines); it excludes 3,053 non-product lines, 2,461
stock movements and no zero-quantity line. The result has 3,808 items and 4,372
customers; 396,274 purchases by 4,335 customers of 3,656 items (266,151 customer-item
pairs) are what a recommender learns from.

``items`` — one row per item used by a kept interaction:

================  ==========================================================================
item_id           As above.
name              The item's most frequent non-blank ``Description`` (trimmed) among its
                  kept lines, counting lines with ``UnitPrice > 0`` first (so a stock note
                  such as "damaged" never beats a sold article's name), then all lines,
                  then alphabetical. NULL if every description is blank.
category          From the name by :data:`CATEGORY_RULES`: the first rule with a keyword that
                  is a whole word (or words) of the upper-cased name, or that word + ``'S'``,
                  wins; ``'other'`` if none does.
price             Median ``UnitPrice`` over the item's kept lines with ``UnitPrice > 0``,
                  computed in decimals (exact midpoints) and rounded half up to 2 decimals;
                  NULL if there is none.
is_active         true, except for an item never sold at a price (no kept line with
                  ``UnitPrice > 0``): it has no price and is never recommended (none on the
                  bundled file, since stock movements are excluded).
================  ==========================================================================

``customers`` — one row per ``CustomerID`` in the source: ``customer_id`` and ``country``, the
customer's most frequent ``Country`` over all their lines (alphabetical on a tie; the value
``'Unspecified'`` counts as unknown, and a customer with no other value gets NULL). Country
names are the source's (``'EIRE'``, ``'RSA'``, ``'USA'``, ``'Channel Islands'``...). Nine
customers have only non-product lines, hence no interactions.

Categories of the 3,808 items on the bundled file: home decor 659, jewellery & accessories
528, kitchen & dining 514, candles & lights 352, stationery & cards 302, storage 298,
party & gift wrap 214, christmas 181, toys & games 156, bags 146, other 113,
mugs & cups 101, garden 92, signs & plaques 88, easter 48, drinks & bar 16.

Output is deterministic: rows are sorted on every column, and the Parquet files are written
by pyarrow with fixed settings (zstd), so the same source gives the same bytes with the same
pyarrow version.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "CATEGORY_RULES",
    "DEFAULT_OUT_DIR",
    "DEFAULT_SOURCE",
    "NON_PRODUCT_CODES",
    "NON_PRODUCT_PREFIXES",
    "ConversionReport",
    "convert",
]

logger = logging.getLogger(__name__)

_REPO_ROOT = Path(__file__).resolve().parents[2]

#: The bundled copy of the UCI Online Retail file.
DEFAULT_SOURCE = _REPO_ROOT / "data" / "online_retail" / "online_retail.parquet"

#: Where the converted demo tables are shipped.
DEFAULT_OUT_DIR = _REPO_ROOT / "data" / "demo"

#: Stock codes that are not products (trimmed and upper-cased), with what they are.
NON_PRODUCT_CODES: Mapping[str, str] = {
    "POST": "postage",
    "DOT": "dotcom postage",
    "C2": "carriage",
    "M": "manual adjustment",
    "D": "discount",
    "BANK CHARGES": "bank charges",
    "AMAZONFEE": "Amazon fee",
    "CRUK": "CRUK commission",
    "S": "samples",
    "PADS": "cushion pads booked at 0.001 (a placeholder line)",
    "B": "adjust bad debt",
    "22016": "gift voucher (GBP 100)",
    "23444": "next day carriage",
    "23574": "packing charge",
    "23702": "high resolution image (a service, not goods)",
}

#: Stock code prefixes (upper-cased) that are not products.
NON_PRODUCT_PREFIXES: Mapping[str, str] = {
    "GIFT_0001_": "gift voucher",
}

#: Keyword rules for the item category, in order: the first rule with a matching keyword
#: wins. A keyword matches a whole word (or words) of the upper-cased name, or that word
#: followed by 'S'. Words are split on anything but letters, digits, '&' and '-'.
#: Phrases that would otherwise be caught by a word they contain come first; words that
#: are as often a design theme as a product ("HEART", "GARDEN", "FLAG", "PAPER") come last.
# fmt: off
CATEGORY_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # "BURGUNDY WINE" is a colour.
    ("candles & lights", ("BURGUNDY WINE DINNER CANDLE",)),
    # Alcohol-themed goods, whatever else they are (a customer flag such as no_alcohol
    # can exclude the whole category).
    ("drinks & bar", (
        "WINE", "GIN", "BEER", "ALE", "COCKTAIL", "CHAMPAGNE", "PROSECCO", "WHISKY",
        "WHISKEY", "VODKA", "RUM", "BRANDY", "MARTINI", "APERITIF", "PINT", "SHOT GLASS",
        "HIP FLASK", "BOTTLE OPENER",
    )),
    # Seasonal.
    ("christmas", (
        "CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "NATIVITY", "SNOWMAN",
        "SNOWFLAKE", "BAUBLE", "NOEL",
    )),
    ("easter", ("EASTER",)),
    # Phrases before the words they contain (a "BAG CHARM" is not a bag, a "GARDEN FORK"
    # is not cutlery).
    ("jewellery & accessories", (
        "BAG CHARM", "LUGGAGE TAG", "CARD WALLET", "CARDHOLDER", "CARD HOLDER",
        "NECKLACE", "NECKLAC", "NECKL", "BRACELET", "BRACLET", "EARRING",
    )),
    ("home decor", ("WALL ART", "DOORMAT", "DRAWER KNOB", "SUCTION CUP")),
    ("garden", (
        "GARDEN FORK", "GARDEN SPADE", "GARDEN TROWEL", "GARDEN RAKE", "GARDEN GLOVES",
        "GARDEN PARASOL", "GARDEN MARKER", "WATERING CAN", "GROW YOUR OWN",
        "GARDENERS KNEELING PAD",
    )),
    ("toys & games", ("PLAYING CARDS", "CARD GAME")),
    ("party & gift wrap", ("GIFT BAG", "PARTY BAG", "GIFT WRAP", "WRAP")),
    # Products.
    ("candles & lights", (
        "CANDLE", "CANDLEHOLDER", "CANDLEPOT", "CANDLESTAND", "CANDLESTICK", "VOTIVE",
        "T-LIGHT", "TEA LIGHT", "TEALIGHT", "LANTERN", "LAMP", "LAMPSHADE", "SHADE", "LIGHT",
        "LIGHTBULB", "BULB", "UBO-LIGHT", "LED", "NIGHTLIGHT", "INCENSE", "OIL BURNER",
        "MATCHES",
    )),
    ("bags", (
        "BAG", "HANDBAG", "SHOPPER", "TOTE", "WASHBAG", "RUCKSACK", "BACKPACK", "SATCHEL",
    )),
    ("kitchen & dining", (
        "KITCHEN", "PLATE", "BOWL", "FRUITBOWL", "PLATTER", "CHARGER", "CUTLERY", "NAPKIN",
        "TEA TOWEL", "APRON", "OVEN GLOVE", "OVEN MITT", "CAKE TIN", "CAKE STAND",
        "CAKESTAND", "CAKE CASES", "PETIT FOUR CASES", "MINI CASES", "CAKE CARRIER",
        "CAKE SLICE", "COOKIE CUTTER", "JUG", "TEAPOT", "TEA SET", "COFFEE SET",
        "TEA FOR ONE", "TEA COSY", "EGG CUP", "EGG COSY", "EGG WARMER", "EGG HOLDER",
        "EGG PAN", "TEA STRAINER", "SUGAR TONGS", "CADDY", "COASTER", "PLACEMAT",
        "PLACE SETTING", "TABLECLOTH", "TABLE CLOTH", "TABLE RUN", "FOOD COVER",
        "LUNCH BOX", "BAKING", "RECIPE", "PANTRY", "BISCUIT", "BREAD", "SPOON", "TEASPOON",
        "FORK", "LADLE", "DISH", "TRAY", "STRAWS", "POPCORN", "PICNIC", "CHOPSTICKS",
        "CHOPPING BOARD", "KITCHEN SCALES", "PAN", "COLANDER", "SQUEEZER", "TOASTRACK",
        "UTENSIL", "SALT AND PEPPER", "SUGAR DISPENSER", "JAM MAKING", "JAM POT",
        "LOLLY MAKERS", "LOLLY MOULDS", "JELLY MOULD", "BREAKFAST SET", "COOKING SET",
        "TUMBLER", "GLASSES", "GOBLET", "CHALICE", "TEA GLASS", "MILKSHAKE GLASS",
    )),
    ("mugs & cups", ("MUG", "CUP", "SAUCER", "BEAKER", "TEACUP")),
    ("storage", (
        "STORAGE", "JAR", "TIN", "BASKET", "BUCKET", "CONTAINER", "CANNISTER", "DRAWER",
        "CABINET", "CRATE", "HAMPER", "TIDY", "BIN", "CHEST", "TRINKET BOX", "TRINKET POT",
        "SHELF", "SHELVING", "BOX", "BOXES", "COAT RACK", "MAGAZINE RACK", "LETTER RACK",
        "WALL ORGANISER", "ORGANISER", "MONEY BANK", "PIGGY BANK", "HOLDER", "PEGS",
    )),
    ("stationery & cards", (
        "CARD", "POSTCARD", "NOTEBOOK", "BOOK", "SKETCHBOOK", "SCRAP BOOK", "NOTE BOOK",
        "EXERCISE BOOK", "POCKET BOOK", "ADDRESS BOOK", "BOOK MARK", "BOOKMARK",
        "PHOTO ALBUM", "STATIONERY", "PEN", "PENCIL", "ERASER", "RUBBER", "STICKER",
        "NOTEPAD", "CALENDAR", "DIARY", "JOURNAL", "ENVELOPE", "RULER", "TAPE", "CRAYON",
        "CHALK", "CHALKBOARD", "BLACKBOARD", "MEMOBOARD", "STAMP", "MEMO", "GREETING",
        "WRITING SET", "PAPERWEIGHT", "HOLE PUNCH", "CALCULATOR", "SCISSOR",
    )),
    ("party & gift wrap", (
        "RIBBON", "BUNTING", "PARTY", "BALLOON", "BIRTHDAY", "GARLAND", "TISSUE",
        "CONFETTI", "PINATA", "GIFT TAG", "TAG", "CRACKER", "DOILY", "DOILIES", "PENNANT",
        "FLAG OF ST GEORGE", "BABY GIFT SET",
    )),
    ("toys & games", (
        "TOY", "GAME", "JIGSAW", "PUZZLE", "DOLL", "SKIPPING ROPE", "SKIPPPING ROPE",
        "BALL", "TEDDY", "KIT", "DOMINOES", "CHESS", "MARBLES", "BUBBLES", "KITE",
        "SPINNING TOP", "HELICOPTER", "PLAYHOUSE", "LUDO", "BINGO", "SKITTLES",
        "NAUGHTS & CROSSES", "FELTCRAFT", "CRAFT", "STENCIL", "COLOURING", "PAINT SET",
        "CANVAS SET", "MODELLING CLAY", "KNITTING NANCY", "DRAWING SLATE", "PUPPET",
        "SOCK PUPPET", "FLYING DISC", "INFLATABLE", "ROCKING HORSE", "FARM ANIMAL",
        "CREEPY CRAWLIES", "CREEPY CRAWLIE SET", "DINOSAUR SET", "SNAKE SET", "GLIDERS",
        "SPORTING FUN", "TATTOOS", "PATCHES", "BEACH SPADE", "SANDCASTLE",
        "SNAKES & LADDERS",
    )),
    ("garden", (
        "PLANT", "PLANTER", "BIRD FEEDER", "BIRDHOUSE", "BIRD HOUSE", "BIRD TABLE",
        "TROWEL", "SEED", "FLOWER POT", "HERB MARKER", "GNOME", "THERMOMETER",
        "WHEELBARROW", "GREENHOUSE", "POTTING SHED", "KNEELING MAT", "HAMMOCK", "WINDMILL",
        "WINDSOCK", "CLOCHE", "FAIRY POLE",
    )),
    ("jewellery & accessories", (
        "RING", "BROOCH", "PENDANT", "CHARM", "CHOKER", "LARIAT", "CHAIN", "HAIR",
        "HAIRCLIP", "HAIRSLIDE", "SLIDE", "BANGLE", "KEYRING", "KEY RING", "KEY FOB",
        "KEY-CHAINS", "PURSE", "WALLET", "UMBRELLA", "PARASOL", "SCARF", "GLOVES",
        "MITTENS", "HAT", "SOMBRERO", "FAN", "SUNGLASSES", "HAND WARMER", "POCKET WARMER",
        "WATCH", "TIARA", "PASSPORT COVER", "VIPPASSPORT COVER", "JEWELLERY", "JEWEL STAND",
        "LIP GLOSS", "BADGES", "HEADPHONES", "RAIN MAC", "RAIN PONCHO", "SLIPPER",
        "SLIPPER SOCK", "GRASS SKIRT", "COLLAR",
    )),
    ("signs & plaques", ("SIGN", "DOORSIGN", "PLAQUE", "TILE")),
    ("home decor", (
        "DECORATION", "FRAME", "PHOTOFRAME", "PHOTO CLIP", "MIRROR", "CLOCK", "CUSHION",
        "FILLER PAD", "HOOK", "HANGER", "VASE", "WREATH", "ORNAMENT", "MOBILE", "DOORSTOP",
        "KNOB", "DRAWERKNOB", "CURTAIN", "QUILT", "THROW", "BLANKET", "HOT WATER BOTTLE",
        "HOTTIE", "CHANDELIER", "WINDCHIME", "CHIME", "BOOKEND", "DIFFUSER", "POT POURRI",
        "PICTURE", "PRINT", "SCREEN", "MAGNET", "ARTIFICIAL FLOWER", "ARTIIFCIAL FLOWER",
        "ART FLOWER", "FEATHER TREE", "WOOD LETTERS", "BLOCK LETTERS", "PAINTED LETTERS",
        "BUILDING BLOCK WORD", "CHAIR", "STOOL", "TABLE", "POUFFE", "LOVE SEAT",
        "BATHROOM SET", "BATHROOM BOTTLE", "TOILETTE BOTTLE", "APOTHECARY BOTTLE",
        "SOAP HOLDER", "SOAP RACK", "BATH SPONGE", "SHOWER CAP", "TOWEL", "FLANNEL",
        "FRAGRANCE", "SCENT", "SCENTED",
    )),
    # Design themes, when nothing more specific matched.
    ("garden", ("GARDEN",)),
    ("party & gift wrap", ("FLAG",)),
    ("stationery & cards", ("PAPER",)),
    ("home decor", (
        "HEART", "STAR", "WICKER", "HANGING", "TOADSTOOL", "MUSHROOM", "FLYING DUCKS",
    )),
)
# fmt: on

_INTERACTIONS_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.string()),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("occurred_at", pa.timestamp("us"), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("quantity", pa.int32(), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("session_id", pa.string(), nullable=False),
    ]
)

_ITEMS_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("category", pa.string(), nullable=False),
        pa.field("price", pa.float64()),
        pa.field("is_active", pa.bool_(), nullable=False),
    ]
)

_CUSTOMERS_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("country", pa.string()),
    ]
)

#: Output tables, their file names and schemas.
OUTPUT_SCHEMAS: Mapping[str, pa.Schema] = {
    "interactions": _INTERACTIONS_SCHEMA,
    "items": _ITEMS_SCHEMA,
    "customers": _CUSTOMERS_SCHEMA,
}

_SOURCE_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
_NOT_NULL_SOURCE_COLUMNS = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate")

_ROW_GROUP_SIZE = 128 * 1024
_ZSTD_LEVEL = 9


@dataclass(frozen=True)
class ConversionReport:
    """What :func:`convert` did with every source line.

    ``rows_read == purchases + returns + sum(non_product_rows.values()) +
    zero_quantity_rows + stock_movement_rows``: every line is either an interaction or
    counted as excluded.
    """

    rows_read: int
    purchases: int
    returns: int
    #: Interactions (purchases and returns) without a customer.
    guest_rows: int
    #: Stock code as written in the source -> lines excluded as not a product.
    non_product_rows: dict[str, int]
    zero_quantity_rows: int
    #: Guest lines at price 0: stock notes ("damaged", "found"), not customer transactions.
    stock_movement_rows: int
    items: int
    customers: int

    def __post_init__(self) -> None:
        accounted = (
            self.purchases
            + self.returns
            + sum(self.non_product_rows.values())
            + self.zero_quantity_rows
            + self.stock_movement_rows
        )
        if accounted != self.rows_read:
            raise ValueError(f"{self.rows_read} rows read but {accounted} accounted for")

    def summary(self) -> str:
        """A few human-readable lines."""
        non_product = sum(self.non_product_rows.values())
        codes = ", ".join(f"{code} {n:,}" for code, n in self.non_product_rows.items())
        return "\n".join(
            [
                f"{self.rows_read:,} source lines read",
                f"{self.purchases + self.returns:,} interactions: {self.purchases:,} purchases, "
                f"{self.returns:,} returns ({self.guest_rows:,} of them guest lines)",
                f"{non_product:,} non-product lines excluded" + (f": {codes}" if codes else ""),
                f"{self.zero_quantity_rows:,} lines with quantity 0 excluded",
                f"{self.stock_movement_rows:,} stock movements (guest lines at price 0) excluded",
                f"{self.items:,} items, {self.customers:,} customers",
            ]
        )


def convert(source: Path = DEFAULT_SOURCE, out_dir: Path = DEFAULT_OUT_DIR) -> ConversionReport:
    """Convert the UCI Online Retail file ``source`` into ``interactions.parquet``,
    ``items.parquet`` and ``customers.parquet`` in ``out_dir`` (created if missing).

    Raises ``ValueError`` if ``source`` lacks a column of the UCI file or has a line
    without invoice, stock code, quantity or date.
    """
    source = Path(source)
    out_dir = Path(out_dir)
    with duckdb.connect() as con:
        _load(con, source)
        tables = {
            "interactions": con.sql(_INTERACTIONS_SQL).to_arrow_table(),
            "items": con.sql(_ITEMS_SQL).to_arrow_table(),
            "customers": con.sql(_CUSTOMERS_SQL).to_arrow_table(),
        }
        counts = dict(
            con.execute("select line_kind, count(*) from lines group by line_kind").fetchall()
        )
        non_product = dict(
            con.execute(
                "select stock_code, count(*) from lines where line_kind = 'non-product' "
                "group by stock_code order by stock_code"
            ).fetchall()
        )
        [(rows_read,)] = con.execute("select count(*) from lines").fetchall()
    interactions = tables["interactions"]
    report = ConversionReport(
        rows_read=rows_read,
        purchases=counts.get("purchase", 0),
        returns=counts.get("return", 0),
        guest_rows=interactions["customer_id"].null_count,
        non_product_rows=non_product,
        zero_quantity_rows=counts.get("zero quantity", 0),
        stock_movement_rows=counts.get("stock movement", 0),
        items=tables["items"].num_rows,
        customers=tables["customers"].num_rows,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        _write_parquet(table, OUTPUT_SCHEMAS[name], out_dir / f"{name}.parquet")
    logger.info("converted %s into %s:\n%s", source, out_dir, report.summary())
    return report


def _load(con: duckdb.DuckDBPyConnection, source: Path) -> None:
    """Create ``lines``: the source lines, typed, with their ``line_kind``."""
    if not source.is_file():
        raise FileNotFoundError(source)
    con.execute("create temp table source as select * from read_parquet(?)", [str(source)])
    columns = {row[0] for row in con.execute("describe source").fetchall()}
    missing = [c for c in _SOURCE_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"{source} is not the UCI Online Retail file: no column {missing}")
    [null_counts] = con.execute(
        "select "
        + ", ".join(f'count(*) - count("{c}")' for c in _NOT_NULL_SOURCE_COLUMNS)
        + " from source"
    ).fetchall()
    empty = [c for c, n in zip(_NOT_NULL_SOURCE_COLUMNS, null_counts, strict=True) if n]
    if empty:
        raise ValueError(f"{source} has lines without {empty}")

    con.execute("create temp table non_product_codes (code varchar)")
    con.executemany(
        "insert into non_product_codes values (?)", [[code] for code in NON_PRODUCT_CODES]
    )
    con.execute("create temp table non_product_prefixes (prefix varchar)")
    con.executemany(
        "insert into non_product_prefixes values (?)", [[prefix] for prefix in NON_PRODUCT_PREFIXES]
    )
    con.execute(
        "create temp table category_keywords "
        "(rule_number integer, category varchar, keyword varchar)"
    )
    con.executemany(
        "insert into category_keywords values (?, ?, ?)",
        [
            [number, category, keyword]
            for number, (category, keywords) in enumerate(CATEGORY_RULES)
            for keyword in keywords
        ],
    )
    con.execute(_LINES_SQL)


def _write_parquet(table: pa.Table, schema: pa.Schema, path: Path) -> None:
    """Write ``table`` with fixed settings, atomically (a reader never sees half a file)."""
    # one chunk per column, so that how DuckDB happened to batch the rows cannot show in
    # the file
    table = table.select(schema.names).cast(schema).combine_chunks()
    partial = path.with_name(path.name + ".partial")
    pq.write_table(
        table,
        partial,
        row_group_size=_ROW_GROUP_SIZE,
        compression="zstd",
        compression_level=_ZSTD_LEVEL,
        use_dictionary=True,
        write_statistics=True,
        version="2.6",
        data_page_version="1.0",
    )
    os.replace(partial, path)


_LINES_SQL = """
create temp table lines as
with typed as (
    select
        "InvoiceNo" as invoice_no,
        "StockCode" as stock_code,
        upper(trim("StockCode")) as item_id,
        nullif(trim("Description"), '') as description,
        "Quantity" as quantity,
        cast("InvoiceDate" as timestamp) as occurred_at,
        cast("UnitPrice" as double) as unit_price,
        -- through double, so that a CustomerID read as 17850.0 or '17850.0' is '17850'
        cast(cast(cast("CustomerID" as double) as bigint) as varchar) as customer_id,
        nullif(trim("Country"), '') as country
    from source
),

final as (
    select
        *,
        case
            when item_id in (select code from non_product_codes)
                or exists (
                    select 1 from non_product_prefixes
                    where starts_with(typed.item_id, non_product_prefixes.prefix)
                )
                then 'non-product'
            when quantity = 0 then 'zero quantity'
            when customer_id is null and coalesce(unit_price, 0) <= 0 then 'stock movement'
            when starts_with(invoice_no, 'C') or quantity < 0 then 'return'
            else 'purchase'
        end as line_kind
    from typed
)

select * from final
"""

_INTERACTIONS_SQL = """
with interactions as (
    select * from lines where line_kind in ('purchase', 'return')
),

final as (
    select
        customer_id,
        item_id,
        occurred_at,
        line_kind as event_type,
        cast(abs(quantity) as integer) as quantity,
        round(abs(quantity * unit_price), 2) as value,
        invoice_no as session_id
    from interactions
)

select * from final
order by occurred_at, session_id, item_id, customer_id nulls first, event_type, quantity,
    value nulls first
"""

_ITEMS_SQL = """
with interactions as (
    select * from lines where line_kind in ('purchase', 'return')
),

descriptions_counted as (
    select
        item_id,
        description,
        count(*) filter (where unit_price > 0) as priced_lines,
        count(*) as lines
    from interactions
    where description is not null
    group by item_id, description
),

names as (
    select item_id, description as name
    from descriptions_counted
    qualify row_number() over (
        partition by item_id order by priced_lines desc, lines desc, description
    ) = 1
),

prices as (
    select
        item_id,
        -- in decimals: the midpoint of two prices is exact, so its rounding to cents does
        -- not depend on how a DuckDB version interpolates in floating point
        cast(
            round(median(cast(unit_price as decimal(18, 4))) filter (where unit_price > 0), 2)
            as double
        ) as price
    from interactions
    group by item_id
),

words as (
    select
        item_id,
        ' ' || trim(regexp_replace(upper(name), '[^A-Z0-9&-]+', ' ', 'g')) || ' ' as padded_name
    from names
),

categories as (
    select
        words.item_id,
        category_keywords.category
    from words
    inner join category_keywords
        on contains(words.padded_name, ' ' || category_keywords.keyword || ' ')
        or contains(words.padded_name, ' ' || category_keywords.keyword || 'S ')
    qualify row_number() over (
        partition by words.item_id
        order by category_keywords.rule_number, category_keywords.keyword
    ) = 1
),

final as (
    select
        prices.item_id,
        names.name,
        coalesce(categories.category, 'other') as category,
        prices.price,
        prices.price is not null as is_active
    from prices
    left join names on names.item_id = prices.item_id
    left join categories on categories.item_id = prices.item_id
)

select * from final
order by item_id
"""

_CUSTOMERS_SQL = """
with customer_lines as (
    select * from lines where customer_id is not null
),

countries_counted as (
    select customer_id, country, count(*) as lines
    from customer_lines
    where country is not null and country <> 'Unspecified'
    group by customer_id, country
),

countries as (
    select customer_id, country
    from countries_counted
    qualify row_number() over (partition by customer_id order by lines desc, country) = 1
),

final as (
    select
        customers.customer_id,
        countries.country
    from (select distinct customer_id from customer_lines) as customers
    left join countries on countries.customer_id = customers.customer_id
)

select * from final
order by customer_id
"""
