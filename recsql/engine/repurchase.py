"""Buy again: how likely a customer is to buy an item they bought before, soon.

Per tenant, a logistic regression learns from the tenant's own holdout fold which features of a
(customer, item) history predict a purchase in the holdout window — how often and how recently
the customer bought it, their usual interval, how active they are, how many customers buy the
item and buy it again, how many bought it recently — and scores every (customer, item) of the
full history with it. Nothing is shared between tenants: a tenant with too little history to
learn from (fewer than ``min_examples`` positive or negative examples) is scored by a fixed
rule instead, the time-decayed purchase affinity.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import pyarrow as pa

from recsql.engine.tenancy import tenant_slices

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

    def score(self, features: np.ndarray) -> np.ndarray:
        """The log-odds of buying again (higher is more likely)."""
        return self._standardised(features) @ self.coef_

    def _standardised(self, features: np.ndarray) -> np.ndarray:
        x = (features - self.mean_) / self.scale_
        return np.column_stack([np.ones(len(x)), x])


def _can_learn(labels: np.ndarray, min_examples: int) -> bool:
    positives = int(labels.sum())
    return positives >= min_examples and len(labels) - positives >= min_examples


def score_tenant(
    holdout: Mapping[str, np.ndarray], full: Mapping[str, np.ndarray], min_examples: int = 20
) -> tuple[np.ndarray, np.ndarray, str]:
    """Scores of the holdout rows (cross-fitted), scores of the full rows, and the method."""
    labels = holdout["is_bought_again"].astype(bool)
    if not _can_learn(labels, min_examples):
        return holdout["affinity"].astype(float), full["affinity"].astype(float), "decayed affinity"
    x_holdout = design_matrix(holdout)
    holdout_scores = np.empty(len(labels))
    groups = holdout["cross_fit_group"]
    for group in (0, 1):
        scored = groups == group
        trained = ~scored
        if scored.any():
            if _can_learn(labels[trained], min_examples):
                model = RepurchaseModel().fit(x_holdout[trained], labels[trained])
                holdout_scores[scored] = model.score(x_holdout[scored])
            else:
                holdout_scores[scored] = holdout["affinity"][scored]
    model = RepurchaseModel().fit(x_holdout, labels)
    return holdout_scores, model.score(design_matrix(full)), "logistic regression"


def score(features: pa.Table, min_examples: int = 20) -> pa.Table:
    """Score every row of ``int_repurchase_features`` (sorted by tenant_id).

    Returns tenant_id, fold, customer_id, item_id, score, method.
    """
    columns = {
        name: features.column(name).to_numpy(zero_copy_only=False) for name in features.column_names
    }
    tenants = columns["tenant_id"]
    scores = np.zeros(len(tenants))
    methods = np.empty(len(tenants), dtype=object)
    learned = 0
    for _, rows in tenant_slices(tenants):
        tenant = {name: values[rows] for name, values in columns.items()}
        in_holdout = tenant["fold"] == "holdout"
        holdout = {name: values[in_holdout] for name, values in tenant.items()}
        full = {name: values[~in_holdout] for name, values in tenant.items()}
        holdout_scores, full_scores, method = score_tenant(holdout, full, min_examples)
        tenant_scores = np.empty(len(in_holdout))
        tenant_scores[in_holdout] = holdout_scores
        tenant_scores[~in_holdout] = full_scores
        scores[rows] = tenant_scores
        methods[rows] = method
        learned += method == "logistic regression"
    log.info("Buy-again models: %d tenant(s) learned a model", learned)
    return pa.table(
        {
            "tenant_id": features.column("tenant_id"),
            "fold": features.column("fold"),
            "customer_id": features.column("customer_id"),
            "item_id": features.column("item_id"),
            "score": pa.array(scores, pa.float64()),
            "method": pa.array(methods.tolist(), pa.string()),
        }
    )
