"""The compact feature frame (categories, float32) and the copy-free time split, on real DuckDB files."""

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import ROLES, component_defs, run
from dataplat_core.binaries import duckdb_connection_config
from dataplat_core.duckdb_warehouse import WarehouseDuckDB
from dataplat_core.resources import build_resources
from dataplat_ml_training.model import ModelParams, labeled, model_input, predict, time_split, train


def _resource(path) -> WarehouseDuckDB:
    return WarehouseDuckDB(database=str(path), connection_config=duckdb_connection_config())


def test_read_frame_gives_categories_and_float32_with_the_values_of_the_text_columns(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path), config=duckdb_connection_config()) as conn:
        conn.execute("create schema ml")
        conn.execute(
            """
            create table ml.t as select * from (values
                (3, 'web', 'it''s', 1.1::double, 7::integer),
                (1, 'app', null, 2.25::double, null),
                (2, 'web', 'toys', null, 9::integer),
                (4, 'unknown', 'toys', 4.5::double, 1::integer)
            ) v(id, channel, category, amount, n)
            """
        )
    frame = _resource(path).read_frame(
        "ml.t",
        ["id", "channel", "category", "amount", "n"],
        order_by="id",
        categorical=["channel", "category"],
        float32=["amount", "n"],
    )
    assert frame["id"].tolist() == [1, 2, 3, 4]  # ordered by the key
    assert isinstance(frame["channel"].dtype, pd.CategoricalDtype)
    assert isinstance(frame["category"].dtype, pd.CategoricalDtype)
    assert frame["channel"].tolist() == ["app", "web", "web", "unknown"]
    # NULL -> "unknown" (sharing the category of a real "unknown"), quotes survive
    assert frame["category"].tolist() == ["unknown", "toys", "it's", "toys"]
    assert sorted(frame["category"].cat.categories) == ["it's", "toys", "unknown"]
    assert frame["amount"].dtype == np.float32 and frame["n"].dtype == np.float32
    assert np.allclose(frame["amount"].to_numpy(), [2.25, np.nan, 1.1, 4.5], equal_nan=True)
    assert np.array_equal(frame["n"].to_numpy(), [np.nan, 9, 7, 1], equal_nan=True)
    with pytest.raises(ValueError):
        _resource(path).read_frame("ml.t", ["id"], order_by="id", categorical=["channel"])


def _compact_and_text_frames(warehouse):
    """The feature table read as training reads it, and as the warehouse types it (text, double, integer)."""
    with component_defs() as (component, defs):
        assert run(defs, "ml/order_features").success
        compact = component._read_features(build_resources()["warehouse"])
    with duckdb.connect(warehouse, read_only=True, config=duckdb_connection_config()) as conn:
        columns = ", ".join(list(ROLES.columns))
        text = conn.execute(f"select {columns} from ml.order_features order by {ROLES.key}").df()
    return compact, text


def test_model_input_of_a_compact_frame_equals_that_of_the_text_frame(warehouse):
    compact, text = _compact_and_text_frames(warehouse)
    a, b = model_input(compact, ROLES), model_input(text, ROLES)
    for c in ROLES.categorical:
        assert isinstance(compact[c].dtype, pd.CategoricalDtype)
        assert a[c].tolist() == b[c].tolist(), c
    for c in ROLES.numeric:
        assert a[c].dtype == np.float32 and b[c].dtype == np.float64
        assert np.allclose(a[c], b[c], rtol=1e-6, equal_nan=True), c


@pytest.mark.parametrize("estimator", ["logistic_regression", "hist_gradient_boosting"])
def test_float32_features_predict_like_float64_features(warehouse, estimator):
    """The compact frame trains (nearly) the same model as the full-precision text frame: same split, AUC
    within 1e-3, every test prediction within 2e-3 (measured: 7e-4 for logistic regression, whose solver
    then runs in float32; 0 for boosting, whose bins do not see the rounding)."""
    compact, text = _compact_and_text_frames(warehouse)
    params = ModelParams(estimator=estimator)
    narrow, wide = (
        train(labeled(compact, ROLES, 7), ROLES, params),
        train(labeled(text, ROLES, 7), ROLES, params),
    )
    assert narrow.metrics["train_rows"] == wide.metrics["train_rows"] and narrow.cutoff == wide.cutoff
    assert narrow.metrics["roc_auc"] == pytest.approx(wide.metrics["roc_auc"], abs=1e-3)
    a, b = predict(narrow.pipeline, narrow.test, ROLES), predict(wide.pipeline, wide.test, ROLES)
    assert np.abs(a - b).max() < 2e-3, np.abs(a - b).max()


def _orders(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.integers(0, 30 * 24, n)), "h")
    return pd.DataFrame(
        {ROLES.key: np.arange(1, n + 1), ROLES.time: ts, ROLES.label: (rng.random(n) < 0.3).astype("int32")}
    )


def test_time_split_is_the_split_of_the_sorted_frame_and_takes_views_when_it_can():
    frame = _orders(500)
    shuffled = frame.sample(frac=1.0, random_state=1)
    expected = frame.sort_values([ROLES.time, ROLES.key], kind="stable")
    for source in (frame, shuffled):
        split = time_split(source, ROLES, test_fraction=0.2)
        at = pd.Timestamp(split.cutoff)
        assert split.train[ROLES.key].tolist() == expected[expected[ROLES.time] < at][ROLES.key].tolist()
        assert split.test[ROLES.key].tolist() == expected[expected[ROLES.time] >= at][ROLES.key].tolist()
        assert split.train.index.tolist() == split.train[ROLES.key].sub(1).tolist()  # rows keep their labels
    # In time order already (the usual case): both parts are views of the frame, not copies.
    split = time_split(frame, ROLES, test_fraction=0.2)
    assert np.shares_memory(split.train[ROLES.key].to_numpy(), frame[ROLES.key].to_numpy())
    assert np.shares_memory(split.test[ROLES.key].to_numpy(), frame[ROLES.key].to_numpy())


def test_labeled_keeps_the_same_rows_in_any_order():
    frame = _orders(300)
    shuffled = frame.sample(frac=1.0, random_state=2)
    as_of = frame[ROLES.time].max() - pd.Timedelta(days=5)
    for source in (frame, shuffled):
        kept = labeled(source, ROLES, 5)
        assert kept[ROLES.key].tolist() == source[source[ROLES.time] <= as_of][ROLES.key].tolist()
