"""Buy again: how likely a customer is to buy an item they bought before, soon.

Per tenant, a logistic regression learns from the tenant's own holdout fold which features of a
(customer, item) history predict a purchase in the holdout window — how often and how recently
the customer bought it, their usual interval, how active they are, how many customers buy the
item and buy it again, how many bought it recently — and scores every (customer, item) of the
full history with it. Nothing is shared between tenants: a tenant with too little history to
learn from (fewer than ``min_examples`` positive or negative examples) is scored by a fixed
rule instead, decayed purchase frequency: the occasions on which the customer bought the item,
halved every ``half_life_days`` since the last one (``decayed_occasions``, from SQL). Versions
stored before that rule used the time-decayed purchase affinity and keep it
(:data:`DECAYED_AFFINITY`).

The holdout scores used for offline evaluation are cross-fitted: the customers are split in two
halves (``cross_fit_group``, from SQL) and each half is scored by a model fit on the other, so
the evaluation of the buy-again shelf is out of sample.

Features (``int_repurchase_features``), each ``log1p``-transformed unless said otherwise and
standardised per tenant: purchase_occasions, days_since_last, days_since_first, affinity,
returns, interval_ratio (days since last / usual interval), purchase_occasions > 1 (as is),
customer_occasions, customer_days_since_last, customer_items, item_buyers, item_recent_buyers,
item_repeat_rate (as is), and the item's share of the customer's occasions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsql.engine.tenancy import grouped_by_tenant

log = logging.getLogger(__name__)

_LOGGED = (
    "purchase_occasions",
    "days_since_last",
    "days_since_first",
    "affinity",
    "returns",
    "interval_ratio",
    "customer_occasions",
    "customer_days_since_last",
    "customer_items",
    "item_buyers",
    "item_recent_buyers",
)


def design_matrix(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """The features of the module docstring, one row per (customer, item), no intercept."""
    logged = [np.log1p(np.maximum(columns[name].astype(float), 0)) for name in _LOGGED]
    occasions = columns["purchase_occasions"].astype(float)
    share = np.log1p(occasions) / np.log1p(columns["customer_occasions"].astype(float))
    return np.column_stack(
        [
            *logged,
            (occasions > 1).astype(float),
            columns["item_repeat_rate"].astype(float),
            share,
        ]
    )


@dataclass
class RepurchaseModel:
    """Ridge-regularised logistic regression, fit by iteratively reweighted least squares."""

    ridge: float = 1.0
    iterations: int = 25
    mean_: np.ndarray = field(init=False, repr=False)
    scale_: np.ndarray = field(init=False, repr=False)
    coef_: np.ndarray = field(init=False, repr=False)

    def fit(self, features: np.ndarray, labels: np.ndarray) -> Self:
        self.mean_ = features.mean(axis=0)
        self.scale_ = features.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        x = self._standardised(features)
        y = labels.astype(float)
        coef = np.zeros(x.shape[1])
        penalty = self.ridge * np.eye(x.shape[1])
        penalty[0, 0] = 0.0  # the intercept is not shrunk
        for _ in range(self.iterations):
            p = 1.0 / (1.0 + np.exp(-np.clip(x @ coef, -30, 30)))
            w = p * (1.0 - p)
            hessian = x.T @ (x * w[:, None]) + penalty
            step = np.linalg.solve(hessian, x.T @ (y - p) - penalty @ coef)
            coef += step
            if np.max(np.abs(step)) < 1e-6:
                break
        self.coef_ = coef
        return self

    @classmethod
    def stored(cls, mean: list[float], scale: list[float], coef: list[float]) -> RepurchaseModel:
        """A model as a version stored it (:func:`fit`)."""
        model = cls()
        model.mean_, model.scale_, model.coef_ = (np.asarray(v, float) for v in (mean, scale, coef))
        return model

    def score(self, features: np.ndarray) -> np.ndarray:
        """The log-odds of buying again (higher is more likely)."""
        return self._standardised(features) @ self.coef_

    def _standardised(self, features: np.ndarray) -> np.ndarray:
        x = (features - self.mean_) / self.scale_
        return np.column_stack([np.ones(len(x)), x])


def can_learn(labels: np.ndarray, min_examples: int) -> bool:
    positives = int(labels.sum())
    return positives >= min_examples and len(labels) - positives >= min_examples


#: The methods of a tenant's buy-again model.
LEARNED = "logistic regression"
FIXED_RULE = "decayed purchase frequency"
#: The fixed rule of the versions stored before it became decayed purchase frequency: kept for
#: them (a frozen tenant's lists do not change when recsql's rule does).
DECAYED_AFFINITY = "decayed affinity"

MODELS_SCHEMA = pa.schema(
    [
        pa.field("tenant_id", pa.string()),
        pa.field("method", pa.string()),
        pa.field("mean", pa.list_(pa.float64())),
        pa.field("scale", pa.list_(pa.float64())),
        pa.field("coef", pa.list_(pa.float64())),
    ]
)


def _fixed(columns: Mapping[str, np.ndarray], method: str = FIXED_RULE) -> np.ndarray:
    """A fixed rule's scores: the decayed purchase occasions, or a legacy version's decayed
    affinity (docs/engine.md#buy-again-recsqlenginerepurchasepy has what each scores)."""
    column = "affinity" if method == DECAYED_AFFINITY else "decayed_occasions"
    return np.asarray(columns[column], dtype=float)


def _columns(table: pa.Table) -> dict[str, np.ndarray]:
    """The features and labels of ``table`` as arrays: its columns that are not text (the ids
    stay in Arrow: millions of them as Python strings cost seconds, and no model reads them)."""
    return {
        field.name: table.column(field.name).to_numpy(zero_copy_only=False)
        for field in table.schema
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type))
    }


def _tenants(
    table: pa.Table,
) -> tuple[pa.Table, Iterator[tuple[str, slice, dict[str, np.ndarray]]]]:
    """``table`` with each tenant's rows together (they come sorted by tenant_id: as they are),
    and each tenant's id, where its rows are in it and their :func:`_columns`."""
    table, slices = grouped_by_tenant(table)
    columns = _columns(table)
    return table, (
        (tenant_id, rows, {name: values[rows] for name, values in columns.items()})
        for tenant_id, rows in slices
    )


def fit(features: pa.Table, min_examples: int = 20) -> pa.Table:
    """Each tenant's buy-again model, learned from its holdout rows of
    ``int_repurchase_features`` (sorted by tenant_id): what a version stores (``MODELS_SCHEMA``;
    the fixed rule has no coefficients) and :func:`score` applies."""
    rows = []
    holdout = features.filter(pc.equal(features.column("fold"), "holdout"))
    _, tenants = _tenants(holdout)
    for tenant_id, _, tenant in tenants:
        labels = tenant["is_bought_again"].astype(bool)
        if can_learn(labels, min_examples):
            model = RepurchaseModel().fit(design_matrix(tenant), labels)
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "method": LEARNED,
                    "mean": model.mean_.tolist(),
                    "scale": model.scale_.tolist(),
                    "coef": model.coef_.tolist(),
                }
            )
        else:
            rows.append({"tenant_id": tenant_id, "method": FIXED_RULE})
    log.info(
        "Buy-again models: %d of %d tenant(s) learned a model",
        sum(row["method"] == LEARNED for row in rows),
        len(rows),
    )
    return pa.Table.from_pylist(rows, schema=MODELS_SCHEMA)


def _cross_fitted(holdout: Mapping[str, np.ndarray], min_examples: int) -> np.ndarray:
    """Scores of a tenant's holdout rows, each half of the customers by a model fitted on the
    other half (out of sample), or the fixed rule where a half cannot learn."""
    labels = holdout["is_bought_again"].astype(bool)
    if not can_learn(labels, min_examples):
        return _fixed(holdout)
    x_holdout = design_matrix(holdout)
    scores = np.empty(len(labels))
    groups = holdout["cross_fit_group"]
    for group in (0, 1):
        scored = groups == group
        trained = ~scored
        if scored.any():
            if can_learn(labels[trained], min_examples):
                model = RepurchaseModel().fit(x_holdout[trained], labels[trained])
                scores[scored] = model.score(x_holdout[scored])
            else:
                scores[scored] = _fixed(holdout)[scored]
    return scores


#: The methods a row is scored by, as the codes :func:`_scored` is given.
_METHODS = (LEARNED, FIXED_RULE, DECAYED_AFFINITY)


def _scored(features: pa.Table, scores: np.ndarray, methods: np.ndarray) -> pa.Table:
    """``features``' ids with their ``scores`` and ``methods`` (codes into :data:`_METHODS`)."""
    method = pa.DictionaryArray.from_arrays(pa.array(methods, pa.int8()), pa.array(_METHODS))
    return pa.table(
        {
            "tenant_id": features.column("tenant_id"),
            "fold": features.column("fold"),
            "customer_id": features.column("customer_id"),
            "item_id": features.column("item_id"),
            "score": pa.array(scores, pa.float64()),
            "method": method.cast(pa.string()),
        }
    )


def holdout_scores(features: pa.Table, min_examples: int = 20) -> pa.Table:
    """Score the holdout rows of ``int_repurchase_features`` (sorted by tenant_id) for the
    offline evaluation, cross-fitted: each half of a tenant's customers by a model fitted on
    the other half. Returns tenant_id, fold, customer_id, item_id, score, method."""
    features, tenants = _tenants(features)
    scores = np.zeros(features.num_rows)
    methods = np.empty(features.num_rows, dtype=np.int8)
    for _, rows, tenant in tenants:
        scores[rows] = _cross_fitted(tenant, min_examples)
        learned = can_learn(tenant["is_bought_again"].astype(bool), min_examples)
        methods[rows] = _METHODS.index(LEARNED if learned else FIXED_RULE)
    return _scored(features, scores, methods)


def score(features: pa.Table, models: pa.Table) -> pa.Table:
    """Score the full rows of ``int_repurchase_features`` (sorted by tenant_id) with each
    tenant's model in ``models`` (``MODELS_SCHEMA``: its active version's; the fixed rule,
    decayed purchase frequency - or the decayed affinity of a version stored with it - for a
    tenant without a learned one).

    Returns tenant_id, fold, customer_id, item_id, score, method.
    """
    stored = {row["tenant_id"]: row for row in models.to_pylist()}
    features, tenants = _tenants(features)
    scores = np.zeros(features.num_rows)
    methods = np.empty(features.num_rows, dtype=np.int8)
    for tenant_id, rows, tenant in tenants:
        model = stored.get(tenant_id)
        if model is not None and model["method"] == LEARNED:
            learned = RepurchaseModel.stored(model["mean"], model["scale"], model["coef"])
            scores[rows] = learned.score(design_matrix(tenant))
            methods[rows] = _METHODS.index(LEARNED)
        else:
            method = (
                DECAYED_AFFINITY if model and model["method"] == DECAYED_AFFINITY else FIXED_RULE
            )
            scores[rows] = _fixed(tenant, method)
            methods[rows] = _METHODS.index(method)
    return _scored(features, scores, methods)
