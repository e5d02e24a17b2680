"""ModelStore on the local filesystem (for real), an fsspec in-memory store, and S3 URLs up to the boundary."""

import importlib.util
import json
import uuid

import pytest
from dataplat_ml_training.store import ModelNotFound, ModelStore


def _model(offset: float):
    """A tiny fitted pipeline: real scikit-learn objects, as the training asset stores them."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0], [1.0], [2.0], [3.0]]) + offset
    return LogisticRegression().fit(x, [0, 0, 1, 1])


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    if request.param == "local":
        return ModelStore(str(tmp_path / "models"))
    return ModelStore(f"memory://models-{uuid.uuid4().hex}")  # fsspec's object-store-like filesystem


def test_save_list_latest_and_load(store):
    assert store.list_versions("m") == [] and store.latest("m") is None
    first = store.save("m", _model(0.0), "0.1.0", {"metrics": {"roc_auc": 0.7}, "promoted": True})
    second = store.save("m", _model(5.0), "0.1.0", {"metrics": {"roc_auc": 0.6}, "promoted": False})
    assert first.version != second.version and first.version.startswith("0.1.0-")
    assert [v.version for v in store.list_versions("m")] == [first.version, second.version]
    assert store.latest("m").version == second.version
    assert store.latest("m", promoted_only=True).version == first.version
    assert store.get("m", first.version).metadata["metrics"]["roc_auc"] == 0.7
    loaded = store.load("m", first.version)
    assert loaded.predict([[0.0], [3.0]]).tolist() == [0, 1]
    assert store.list_versions("other") == []


def test_saving_the_same_model_again_keeps_one_version_and_makes_it_latest(store):
    a = store.save("m", _model(0.0), "0.1.0")
    store.save("m", _model(5.0), "0.1.0")
    again = store.save("m", _model(0.0), "0.1.0")
    assert again.version == a.version
    assert len(store.list_versions("m")) == 2
    assert store.latest("m").version == a.version


def test_a_new_package_version_is_a_new_model_version(store):
    a = store.save("m", _model(0.0), "0.1.0")
    b = store.save("m", _model(0.0), "0.2.0")
    assert a.content_hash == b.content_hash and a.version != b.version
    assert b.version == f"0.2.0-{b.content_hash[:16]}"


def test_a_corrupted_artifact_is_refused(store):
    saved = store.save("m", _model(0.0), "0.1.0")
    path = store.root / "m" / saved.version / "model.pkl"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="do not match"):
        store.load("m", saved.version)
    with pytest.raises(ModelNotFound):
        store.load("m", "0.1.0-0000000000000000")


def test_a_half_saved_version_is_not_listed(tmp_path):
    store = ModelStore(str(tmp_path))
    saved = store.save("m", _model(0.0), "0.1.0")
    (tmp_path / "m" / "0.1.0-deadbeefdeadbeef").mkdir()  # model written, metadata never was
    assert [v.version for v in store.list_versions("m")] == [saved.version]
    record = json.loads((tmp_path / "m" / saved.version / "metadata.json").read_text())
    assert record["content_hash"] == saved.content_hash


def test_s3_urls_resolve_to_s3_paths_up_to_the_network():
    store = ModelStore("s3://bucket/prefix/models")
    assert store.root.protocol == "s3"
    assert (
        str(store.root / "refund_model" / "0.1.0-abc") == "s3://bucket/prefix/models/refund_model/0.1.0-abc"
    )
    if importlib.util.find_spec("s3fs") is None:
        # Without the `s3` extra the boundary is a clear install hint, not a silent local folder.
        with pytest.raises(ImportError, match="s3fs"):
            store.list_versions("refund_model")


def test_file_urls_and_plain_paths_are_the_same_local_store(tmp_path):
    saved = ModelStore(f"file://{tmp_path}").save("m", _model(0.0), "0.1.0")
    assert ModelStore(str(tmp_path)).latest("m").version == saved.version
