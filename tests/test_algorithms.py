"""Tests of recsql.engine.algorithms: a contract every algorithm passes, known answers,
properties."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from unittest import mock

import implicit.cpu.als
import implicit.utils
import numpy as np
import pytest
import scipy.sparse as sp
import threadpoolctl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recsql.engine.algorithms import ALGORITHMS, ALS, EASE, Algorithm, segment_argmax, topn
from recsql.engine.algorithms.als import fold_in
from recsql.engine.algorithms.ease import largest_weights

# the module (the package's `topn` is its function)
topn_module = importlib.import_module("recsql.engine.algorithms.topn")

# Small, fast settings; the contract must hold for any settings.
FACTORIES: dict[str, Callable[[], Algorithm]] = {
    "als": lambda: ALS(factors=8, iterations=10, random_state=0),
    "ease": lambda: EASE(regularization=10.0),
}


def random_user_items(
    users: int = 60, items: int = 25, density: float = 0.15, seed: int = 0
) -> sp.csr_matrix:
    """Random affinities in (0, 5]; the last user has no history."""
    rng = np.random.default_rng(seed)
    mask = rng.random((users, items)) < density
    mask[-1] = False
    values = np.where(mask, rng.uniform(0.1, 5.0, (users, items)), 0.0)
    return sp.csr_matrix(values, dtype=np.float32)


def blocks(
    groups: int = 4, items_per_group: int = 6, users_per_group: int = 12
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Users in groups that each buy a distinct set of items, all of them but one.

    User ``j`` of group ``g`` has bought every item of ``g`` except item
    ``j % items_per_group`` of the group; that held-out item is returned per user.
    """
    dense = np.zeros((groups * users_per_group, groups * items_per_group), dtype=np.float32)
    held_out = np.empty(groups * users_per_group, dtype=np.int64)
    for group in range(groups):
        group_items = slice(group * items_per_group, (group + 1) * items_per_group)
        for j in range(users_per_group):
            user = group * users_per_group + j
            dense[user, group_items] = 1.0
            held_out[user] = group * items_per_group + j % items_per_group
            dense[user, held_out[user]] = 0.0
    return sp.csr_matrix(dense), held_out


def rows_of(matrix: sp.csr_matrix) -> list[set[int]]:
    return [
        set(matrix.indices[matrix.indptr[r] : matrix.indptr[r + 1]]) for r in range(matrix.shape[0])
    ]


@pytest.fixture(params=sorted(FACTORIES))
def make(request: pytest.FixtureRequest) -> Callable[[], Algorithm]:
    return FACTORIES[request.param]


class TestAlgorithmContract:
    """What every algorithm guarantees (implicit's RecommenderBaseTestMixin, for recsql)."""

    def test_fit_returns_self_and_registry_knows_it(self, make: Callable[[], Algorithm]):
        model = make()
        assert model.fit(random_user_items()) is model
        assert ALGORITHMS[model.name] is type(model)

    def test_unfitted_model_refuses(self, make: Callable[[], Algorithm]):
        with pytest.raises(RuntimeError, match="not fitted"):
            make().recommend(random_user_items(), np.arange(3), 5)

    def test_shapes_and_dtypes(self, make: Callable[[], Algorithm]):
        user_items = random_user_items()
        model = make().fit(user_items)
        users = np.arange(user_items.shape[0])
        items, scores, explanations = model.recommend(user_items, users, 7)
        assert items.shape == scores.shape == explanations.shape == (users.size, 7)
        assert (items.dtype, scores.dtype, explanations.dtype) == (np.int32, np.float32, np.int32)
        similar, similarity = model.similar_items(np.arange(5), 4)
        assert similar.shape == similarity.shape == (5, 4)
        assert (similar.dtype, similarity.dtype) == (np.int32, np.float32)
        empty = model.recommend(user_items, np.array([], dtype=np.int64), 7)
        assert [part.shape for part in empty] == [(0, 7)] * 3
        assert [part.shape for part in model.recommend(user_items, users, 0)] == [(60, 0)] * 3

    def test_excluded_items_are_never_returned(self, make: Callable[[], Algorithm]):
        user_items = random_user_items()
        model = make().fit(user_items)
        users = np.arange(user_items.shape[0])
        other = random_user_items(density=0.5, seed=1)
        for exclude in (user_items, other):
            items, _, _ = model.recommend(user_items, users, 10, exclude=exclude)
            for row, excluded in zip(items, rows_of(exclude), strict=True):
                assert not excluded & set(row.tolist())

    def test_pads_when_the_catalogue_is_smaller_than_n(self, make: Callable[[], Algorithm]):
        user_items = random_user_items()
        n_items = user_items.shape[1]
        model = make().fit(user_items)
        users = np.arange(user_items.shape[0])
        items, scores, explanations = model.recommend(
            user_items, users, n_items + 3, exclude=user_items
        )
        for row, row_scores, row_explanations, bought in zip(
            items, scores, explanations, rows_of(user_items), strict=True
        ):
            available = n_items - len(bought)
            assert sorted(row[:available]) == sorted(set(range(n_items)) - bought)
            assert np.all(np.isfinite(row_scores[:available]))
            assert np.all(row[available:] == -1)
            assert np.all(row_scores[available:] == -np.inf)
            assert np.all(row_explanations[available:] == -1)
        similar, similarity = model.similar_items(np.arange(n_items), n_items + 2)
        assert np.all(similar[:, n_items - 1 :] == -1)
        assert np.all(similarity[:, n_items - 1 :] == -np.inf)
        assert np.all(similar[:, : n_items - 1] >= 0)

    def test_deterministic_for_a_fixed_random_state(self, make: Callable[[], Algorithm]):
        user_items = random_user_items()
        users = np.arange(user_items.shape[0])
        first = make().fit(user_items).recommend(user_items, users, 10, exclude=user_items)
        second = make().fit(user_items).recommend(user_items, users, 10, exclude=user_items)
        for a, b in zip(first, second, strict=True):
            np.testing.assert_array_equal(a, b)

    def test_users_without_history_get_items_or_padding(self, make: Callable[[], Algorithm]):
        user_items = random_user_items()
        model = make().fit(user_items)
        nobody = np.array([user_items.shape[0] - 1])
        assert user_items[nobody].nnz == 0
        items, scores, explanations = model.recommend(user_items, nobody, 5, exclude=user_items)
        assert np.all((items >= 0) | (items == -1))
        assert np.all(np.isfinite(scores[items >= 0]))
        assert np.all(explanations == -1)

    def test_a_subset_of_users_equals_all_users_then_subset(self, make: Callable[[], Algorithm]):
        user_items = random_user_items()
        model = make().fit(user_items)
        everyone = model.recommend(
            user_items, np.arange(user_items.shape[0]), 6, exclude=user_items
        )
        subset = np.array([17, 3, 59, 3, 0])
        for some, all_then_some in zip(
            model.recommend(user_items, subset, 6, exclude=user_items), everyone, strict=True
        ):
            np.testing.assert_array_equal(some, all_then_some[subset])

    def test_batch_size_does_not_change_results(self, make: Callable[[], Algorithm]):
        user_items = random_user_items()
        model = make().fit(user_items)
        users = np.arange(user_items.shape[0])
        reference = model.recommend(user_items, users, 6, exclude=user_items)
        for batch_size in (1, 7):
            batched = model.recommend(
                user_items, users, 6, exclude=user_items, batch_size=batch_size
            )
            for a, b in zip(batched, reference, strict=True):
                np.testing.assert_array_equal(a, b)
        items = np.arange(user_items.shape[1])
        for a, b in zip(
            model.similar_items(items, 5, batch_size=4), model.similar_items(items, 5), strict=True
        ):
            np.testing.assert_array_equal(a, b)

    def test_similar_items_never_returns_the_item_itself(self, make: Callable[[], Algorithm]):
        user_items = random_user_items()
        model = make().fit(user_items)
        items = np.arange(user_items.shape[1])
        similar, similarity = model.similar_items(items, user_items.shape[1])
        assert not np.any(similar == items[:, None])
        assert np.all(similarity[:, :-1] >= similarity[:, 1:])

    def test_explanations_are_other_history_items(self, make: Callable[[], Algorithm]):
        user_items = random_user_items()
        model = make().fit(user_items)
        items, _, explanations = model.recommend(user_items, np.arange(60), 10)
        for row, row_explanations, bought in zip(
            items, explanations, rows_of(user_items), strict=True
        ):
            explained = row_explanations >= 0
            assert set(row_explanations[explained].tolist()) <= bought
            assert not np.any(row_explanations[explained] == row[explained])

    def test_input_is_not_modified_and_any_sparse_format_is_accepted(
        self, make: Callable[[], Algorithm]
    ):
        user_items = random_user_items()
        untidy = sp.coo_matrix(user_items)
        untidy = sp.coo_matrix(  # every entry split in two, plus an explicit zero
            (
                np.concatenate([untidy.data / 2, untidy.data / 2, [0.0]]),
                (
                    np.concatenate([untidy.row, untidy.row, [0]]),
                    np.concatenate([untidy.col, untidy.col, [1]]),
                ),
            ),
            shape=untidy.shape,
        ).tocsr()
        before = (untidy.data.copy(), untidy.indices.copy(), untidy.indptr.copy())
        users = np.arange(user_items.shape[0])
        tidy = make().fit(user_items).recommend(user_items, users, 5, exclude=user_items)
        untidy_result = make().fit(untidy).recommend(sp.csr_array(untidy), users, 5, exclude=untidy)
        for a, b in zip(untidy_result, tidy, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4)
        for a, b in zip((untidy.data, untidy.indices, untidy.indptr), before, strict=True):
            np.testing.assert_array_equal(a, b)

    def test_invalid_input_is_refused(self, make: Callable[[], Algorithm]):
        negative = random_user_items()
        negative.data[0] = -1.0
        with pytest.raises(ValueError, match="non-negative"):
            make().fit(negative)
        model = make().fit(random_user_items())
        with pytest.raises(ValueError, match="items"):
            model.recommend(random_user_items(items=24), np.arange(3), 5)
        with pytest.raises(IndexError):
            model.recommend(random_user_items(), np.array([60]), 5)
        with pytest.raises(IndexError):
            model.similar_items(np.array([25]), 5)


class TestKnownAnswers:
    """Fixtures whose right answer is known in closed form."""

    @pytest.mark.parametrize(
        "model",
        [pytest.param(ALS(factors=4, random_state=seed), id=f"als-seed{seed}") for seed in range(3)]
        + [pytest.param(EASE(), id="ease")],
    )
    def test_each_users_held_out_group_item_ranks_first(self, model: Algorithm):
        user_items, held_out = blocks()
        users = np.arange(user_items.shape[0])
        items, scores, explanations = model.fit(user_items).recommend(
            user_items, users, 3, exclude=user_items
        )
        np.testing.assert_array_equal(items[:, 0], held_out)
        assert np.all(scores[:, 0] > scores[:, 1])
        # Explained by an item the user bought from their own group.
        assert np.all(explanations[:, 0] // 6 == users // 12)
        for user, explanation in enumerate(explanations[:, 0]):
            assert user_items[user, explanation] > 0

    def test_similar_items_stay_in_the_group(self):
        user_items, _ = blocks()
        for model in (ALS(factors=4), EASE()):
            similar, _ = model.fit(user_items).similar_items(np.arange(24), 5)
            assert np.all(similar // 6 == (np.arange(24) // 6)[:, None])

    @pytest.mark.parametrize("precision", ["double", "single"])
    @pytest.mark.parametrize("values", ["binary", "linear", "sqrt"])
    def test_ease_matches_a_hand_computed_solution(
        self, values: str, precision: str, monkeypatch: pytest.MonkeyPatch
    ):
        from recsql.engine.algorithms import ease

        if precision == "single":  # what a catalogue of more than 1,024 items is inverted in
            monkeypatch.setattr(ease, "_SINGLE_PRECISION_ITEMS", 0)
        dense = np.array(
            [
                [1.0, 2.0, 0.0, 0.0],
                [0.0, 1.0, 3.0, 0.0],
                [1.0, 0.0, 1.0, 1.0],
                [0.0, 0.0, 2.0, 1.0],
                [4.0, 1.0, 0.0, 0.0],
            ]
        )
        x = {"binary": (dense > 0).astype(float), "linear": dense, "sqrt": np.sqrt(dense)}[values]
        regularization = 2.0
        p = np.linalg.inv(x.T @ x + regularization * np.eye(4))
        expected = -p / np.diag(p)
        np.fill_diagonal(expected, 0.0)

        model = EASE(regularization=regularization, values=values).fit(sp.csr_matrix(dense))
        assert (
            ease._precision(sp.csr_matrix(x), regularization)
            == {
                "double": np.float64,
                "single": np.float32,
            }[precision]
        )
        np.testing.assert_allclose(model.item_weights_, expected, rtol=1e-5, atol=1e-7)
        assert model.item_weights_.dtype == np.float32

        items, scores, explanations = model.recommend(sp.csr_matrix(dense), np.arange(5), 4)
        expected_scores = x @ expected
        np.testing.assert_allclose(
            scores, np.take_along_axis(expected_scores, items, axis=1), rtol=1e-5, atol=1e-6
        )
        contributions = x[:, :, None] * expected[None, :, :]  # (user, history item, item)
        for user in range(5):
            for item, explanation in zip(items[user], explanations[user], strict=True):
                options = contributions[user, :, item].copy()
                options[item] = -np.inf
                best = int(np.argmax(options))
                assert explanation == (best if options[best] > 0 else -1)

    def test_ease_similar_items_read_rows_of_b(self):
        user_items = random_user_items()
        model = EASE().fit(user_items)
        similar, similarity = model.similar_items(np.array([2]), 3)
        np.testing.assert_array_equal(similarity[0], model.item_weights_[2, similar[0]])
        # The same as recommending to a customer who bought only item 2.
        alone = sp.csr_matrix(([1.0], ([0], [2])), shape=(1, user_items.shape[1]))
        items, _, _ = model.recommend(alone, np.array([0]), 3, exclude=alone)
        np.testing.assert_array_equal(items, similar)

    @pytest.mark.parametrize("kept", [3, 24])
    def test_stored_ease_weights_score_alike_dense_or_sparse(
        self, kept: int, monkeypatch: pytest.MonkeyPatch
    ):
        """Stored weights are scored dense on small catalogues and sparse above: the same
        lists, scores and explanations either way (some weights kept, or all of them)."""
        from recsql.engine.algorithms import ease
        from recsql.engine.algorithms.ease import largest_weights

        user_items = random_user_items(users=80, items=25, density=0.2)
        stored = largest_weights(EASE().fit(user_items).item_weights_, kept)
        users = np.arange(user_items.shape[0])
        dense = EASE().with_weights(stored)
        assert isinstance(dense.item_weights_, np.ndarray)
        monkeypatch.setattr(ease, "_DENSE_ITEMS", 0)
        sparse = EASE().with_weights(stored)
        assert sp.issparse(sparse.item_weights_)
        expected = dense.recommend(user_items, users, 10, exclude=user_items)
        for got, want in zip(
            sparse.recommend(user_items, users, 10, exclude=user_items), expected, strict=True
        ):
            np.testing.assert_allclose(got, want, rtol=1e-6)
        assert (expected[2] >= 0).any()  # explanations were made

    def test_ease_inverts_in_double_precision_where_single_would_be_inaccurate(
        self, monkeypatch: pytest.MonkeyPatch
    ):
        from recsql.engine.algorithms import ease

        monkeypatch.setattr(ease, "_SINGLE_PRECISION_ITEMS", 0)
        # blocks of 16 rows: the single-precision weights are written over the Gram matrix a
        # block at a time, each block reading rows not written yet
        monkeypatch.setattr(ease, "_BLOCK", 16)
        user_items = random_user_items(users=300, items=200, density=0.2)
        # the condition number's bound is (largest row sum of X^T X + lambda) / lambda
        row_sums = user_items.T @ (user_items @ np.ones(200))
        well = float(row_sums.max()) / 100  # bound ~101: float32 is exact to ~1e-5
        ill = float(row_sums.max()) * 1e-6  # bound ~1e6: float32 could be off by 10 %
        assert ease._precision(user_items, well) == np.float32
        assert ease._precision(user_items, ill) == np.float64
        single = EASE(regularization=well, values="linear").fit(user_items).item_weights_
        monkeypatch.setattr(ease, "_SINGLE_PRECISION_ITEMS", 10**9)
        double = EASE(regularization=well, values="linear").fit(user_items).item_weights_
        assert single.dtype == double.dtype == np.float32
        np.testing.assert_allclose(single, double, atol=1e-5 * np.abs(double).max())

    def test_ease_builds_the_same_gram_matrix_on_several_threads(self):
        from recsql.engine.algorithms.ease import _gram

        user_items = random_user_items(users=300, items=700, density=0.05)
        # the lower triangle: the only one the factorisation reads, and the only one filled
        serial = np.tril(_gram(user_items, 1))
        np.testing.assert_array_equal(np.tril(_gram(user_items, 3)), serial)
        np.testing.assert_allclose(
            serial, np.tril((user_items.T @ user_items).toarray()), rtol=1e-6
        )

    @pytest.mark.parametrize("model", ["ease", "ease stored", "als"])
    def test_batches_scored_on_threads_give_the_serial_lists(self, model: str):
        user_items = random_user_items(users=90, items=300, density=0.05)
        users = np.arange(90)

        def fitted(threads: int) -> Algorithm:
            if model == "als":
                return ALS(factors=8, iterations=3, num_threads=threads).fit(user_items)
            fitted = EASE(regularization=5.0, num_threads=threads).fit(user_items)
            if model == "ease stored":
                fitted.item_weights_ = largest_weights(fitted.item_weights_, 20)
            return fitted

        serial = fitted(1).recommend(user_items, users, 10, exclude=user_items, batch_size=7)
        threaded = fitted(2).recommend(user_items, users, 10, exclude=user_items, batch_size=7)
        for got, want in zip(threaded, serial, strict=True):
            np.testing.assert_array_equal(got, want)
        assert (serial[2] >= 0).any()  # explanations were made

    def test_ease_memory_estimate(self):
        assert EASE.peak_memory_bytes(1_000) >= 12 * 1_000**2
        assert EASE.peak_memory_bytes(20_000) < 5 * 2**30

    def test_als_scores_are_factor_dot_products(self):
        user_items = random_user_items()
        model = ALS(factors=8, iterations=5).fit(user_items)
        assert model.user_factors_.shape == (60, 8) and model.item_factors_.shape == (25, 8)
        assert model.user_factors_.dtype == model.item_factors_.dtype == np.float32
        items, scores, _ = model.recommend(user_items, np.arange(60), 5)
        expected = model.user_factors_ @ model.item_factors_.T
        np.testing.assert_allclose(scores, np.take_along_axis(expected, items, axis=1), rtol=1e-5)

    def test_als_explanations_are_the_largest_cosine_however_they_are_computed(
        self, monkeypatch: pytest.MonkeyPatch
    ):
        """A small catalogue's explanations are looked up in the items' cosine matrix, a large
        one's computed entry by entry: the same items either way, and each the history item
        whose factors have the largest cosine with the recommended item's."""
        from recsql.engine.algorithms import als

        user_items = random_user_items(items=40, density=0.3)
        users = np.arange(user_items.shape[0])
        model = ALS(factors=6, iterations=5).fit(user_items)
        items, _, looked_up = model.recommend(user_items, users, 8, exclude=user_items)
        monkeypatch.setattr(als, "_COSINE_MATRIX_ITEMS", 0)
        _, _, computed = (
            ALS(factors=6, iterations=5)
            .fit(user_items)
            .recommend(user_items, users, 8, exclude=user_items)
        )
        np.testing.assert_array_equal(looked_up, computed)
        factors = model.item_factors_.astype(np.float64)
        directions = factors / np.linalg.norm(factors, axis=1, keepdims=True)
        explained = 0
        for user, bought in enumerate(rows_of(user_items)):
            for item, explanation in zip(items[user], looked_up[user], strict=True):
                cosines = {h: directions[h] @ directions[item] for h in bought if h != item}
                if explanation < 0:  # nothing in the history speaks for the item
                    assert item < 0 or max(cosines.values(), default=0.0) <= 0
                    continue
                explained += 1
                assert cosines[explanation] >= max(cosines.values()) - 1e-12
        assert explained > 0.9 * items.size

    def test_als_fold_in_reproduces_fitted_users(self):
        user_items, _ = blocks()
        user_items = user_items + random_user_items(48, 24, density=0.1, seed=3)
        model = ALS(factors=8).fit(user_items)

        def folded_in(items, weights=None):
            return fold_in(
                model.item_factors_,
                np.asarray(items),
                weights,
                alpha=model.alpha,
                regularization=model.regularization,
            )

        for user in range(user_items.shape[0]):
            row = user_items[user]
            folded = folded_in(row.indices, row.data)
            fitted = model.user_factors_[user]
            cosine = folded @ fitted / (np.linalg.norm(folded) * np.linalg.norm(fitted))
            assert cosine > 0.9, (user, cosine)
        # The same solve as implicit's exact (Cholesky) user update, confidence included.
        with threadpoolctl.threadpool_limits(1, "blas"):
            reference = implicit.cpu.als.AlternatingLeastSquares(
                factors=8, regularization=model.regularization, alpha=model.alpha
            )
        reference.item_factors, reference.user_factors = model.item_factors_, model.user_factors_
        expected = reference.recalculate_user(np.arange(user_items.shape[0]), user_items)
        folded = [folded_in(row.indices, row.data) for row in user_items]
        np.testing.assert_allclose(folded, expected, rtol=1e-4, atol=1e-4)
        assert folded_in(np.array([], dtype=np.int64)).shape == (8,)
        assert not np.any(folded_in(np.array([], dtype=np.int64)))
        # Repeated items add up: two half purchases are one purchase.
        np.testing.assert_allclose(
            folded_in([1, 1, 2], [0.5, 0.5, 1.0]), folded_in([1, 2]), rtol=1e-5
        )


class TestBlasThreads:
    """implicit must run with a single BLAS thread, without its warning."""

    @pytest.fixture
    def two_blas_threads(self):
        with threadpoolctl.threadpool_limits(2, "blas"):
            threads = [
                i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
            ]
            if not threads or max(threads) < 2:
                pytest.skip("BLAS cannot use two threads here, nothing to limit")
            yield

    def test_fit_runs_with_one_blas_thread(self, monkeypatch: pytest.MonkeyPatch, two_blas_threads):
        seen: list[list[int]] = []
        original = implicit.cpu.als.AlternatingLeastSquares.fit

        def spy(model, *args, **kwargs):
            infos = threadpoolctl.threadpool_info()
            seen.append([i["num_threads"] for i in infos if i["user_api"] == "blas"])
            return original(model, *args, **kwargs)

        monkeypatch.setattr(implicit.cpu.als.AlternatingLeastSquares, "fit", spy)
        ALS(factors=4, iterations=2).fit(random_user_items())
        assert seen and all(threads == 1 for threads in seen[0])
        after = [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]
        assert max(after) >= 2  # restored

    def test_no_blas_warning_and_no_progress_bar(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, two_blas_threads
    ):
        # implicit checks once per process: make it check again, and show the check would fire.
        monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
        with pytest.warns(RuntimeWarning, match="threads"):
            implicit.cpu.als.AlternatingLeastSquares()
        monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ALS(factors=4, iterations=2).fit(random_user_items())
        assert not [w for w in caught if "thread" in str(w.message)]
        assert implicit.utils._checked_blas_config  # the check did run
        captured = capsys.readouterr()
        assert captured.out == captured.err == ""


class TestTopN:
    def test_ties_go_to_the_lower_item(self):
        scores = np.array([[1.0, 3.0, 3.0, 1.0, 3.0, 0.0]], dtype=np.float32)
        items, top = topn(scores, 4)
        np.testing.assert_array_equal(items, [[1, 2, 4, 0]])
        np.testing.assert_array_equal(top, [[3.0, 3.0, 3.0, 1.0]])

    def test_does_not_modify_scores_unless_allowed(self):
        scores = np.arange(6, dtype=np.float32).reshape(2, 3)
        exclude = sp.csr_matrix(np.eye(2, 3))
        topn(scores, 2, exclude=exclude)
        np.testing.assert_array_equal(scores, np.arange(6).reshape(2, 3))
        items, _ = topn(scores, 3, exclude=exclude, overwrite_scores=True)
        np.testing.assert_array_equal(items, [[2, 1, -1], [2, 0, -1]])
        assert scores[0, 0] == -np.inf

    @settings(max_examples=200, deadline=None)
    @given(
        scores=arrays(
            np.float32,
            st.tuples(st.integers(0, 6), st.integers(1, 12)),
            elements=st.sampled_from([-np.inf, 0.0, 0.5, 1.0, 2.0]),
        ),
        n=st.integers(0, 15),
    )
    def test_equals_a_full_stable_sort(self, scores: np.ndarray, n: int):
        # narrow rows are sorted whole (topn.SORT_BELOW); with it 0, selected by blocks
        for sort_below in (topn_module.SORT_BELOW, 0):
            with mock.patch.object(topn_module, "SORT_BELOW", sort_below):
                items, top = topn(scores, n)
            rows, n_items = scores.shape
            for row in range(rows):
                order = np.lexsort((np.arange(n_items), -scores[row]))[:n]
                order = order[scores[row, order] > -np.inf]
                expected = np.full(n, -1)
                expected[: order.size] = order
                np.testing.assert_array_equal(items[row], expected)
                np.testing.assert_array_equal(top[row][: order.size], scores[row, order])
                assert np.all(top[row][order.size :] == -np.inf)

    @settings(max_examples=100, deadline=None)
    @given(
        scores=arrays(
            np.float32,
            st.tuples(st.integers(1, 4), st.integers(40, 400)),
            # mostly zeros, as the scores of a sparse model (EASE from stored weights) are
            elements=st.sampled_from([0.0] * 12 + [-0.0, -np.inf, -1.0, 0.5, 1.0, 2.0, 3.0]),
        ),
        n=st.integers(1, 12),
    )
    def test_wide_sparse_scores_equal_a_full_stable_sort(self, scores: np.ndarray, n: int):
        # wide rows take the block-threshold path of the selection, with its tie completion
        items, top = topn(scores, n)
        for row in range(scores.shape[0]):
            order = np.lexsort((np.arange(scores.shape[1]), -scores[row]))[:n]
            order = order[scores[row, order] > -np.inf]
            np.testing.assert_array_equal(items[row, : order.size], order)
            np.testing.assert_array_equal(top[row, : order.size], scores[row, order])
            assert np.all(items[row, order.size :] == -1)

    @settings(max_examples=200, deadline=None)
    @given(
        lengths=st.lists(st.integers(0, 4), min_size=1, max_size=6),
        data=st.data(),
        n=st.integers(1, 3),
    )
    def test_segment_argmax_equals_a_loop(self, lengths: list[int], data: st.DataObject, n: int):
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        entries = int(indptr[-1])
        values = data.draw(
            arrays(np.float32, (entries, n), elements=st.sampled_from([-1.0, 0.0, 1.0, 2.0]))
        )
        labels = data.draw(arrays(np.int32, entries, elements=st.integers(0, 9)))
        result = segment_argmax(values, indptr, labels)
        for row in range(len(lengths)):
            segment = slice(indptr[row], indptr[row + 1])
            for k in range(n):
                column, names = values[segment, k], labels[segment]
                if column.size == 0 or column.max() <= 0:
                    assert result[row, k] == -1
                else:
                    assert result[row, k] == names[column == column.max()].min()


@st.composite
def interaction_problems(draw: st.DrawFn) -> tuple[sp.csr_matrix, sp.csr_matrix, int]:
    shape = st.tuples(st.integers(1, 12), st.integers(1, 10))
    values = draw(
        arrays(np.float32, draw(shape), elements=st.sampled_from([0.0, 0.0, 0.5, 1.0, 3.0]))
    )
    excluded = draw(arrays(np.bool_, values.shape))
    return (
        sp.csr_matrix(values),
        sp.csr_matrix(excluded.astype(np.float32)),
        draw(st.integers(1, 12)),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=interaction_problems(), algorithm=st.sampled_from(sorted(FACTORIES)))
def test_recommendations_are_valid_on_any_data(
    problem: tuple[sp.csr_matrix, sp.csr_matrix, int], algorithm: str
):
    user_items, exclude, n = problem
    n_users, n_items = user_items.shape
    model = FACTORIES[algorithm]().fit(user_items)
    items, scores, explanations = model.recommend(
        user_items, np.arange(n_users), n, exclude=exclude
    )
    assert np.all((items >= -1) & (items < n_items))
    assert np.all((items == -1) == (scores == -np.inf))
    assert np.all(scores[:, :-1] >= scores[:, 1:]) and not np.any(np.isnan(scores))
    history = rows_of(user_items)
    for row, row_explanations, excluded, bought in zip(
        items, explanations, rows_of(exclude), history, strict=True
    ):
        valid = row[row >= 0]
        assert not excluded & set(valid.tolist())
        assert len(set(valid.tolist())) == valid.size
        assert set(row_explanations[row_explanations >= 0].tolist()) <= bought
        assert np.all(row_explanations[row < 0] == -1)
