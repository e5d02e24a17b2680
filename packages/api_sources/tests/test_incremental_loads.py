"""Unpartitioned mode: each scheduled run continues from the cursor dlt stored in the destination.

Every run gets a fresh dlt working directory, so a second run that reads only the changes also proves that the
state was restored from the warehouse, not from a local folder.
"""

from conftest import api_rows, iso


def _payments(platform) -> dict[int, tuple]:
    rows = platform.query("select payment_id, status, amount, updated_at from payments_api.payments")
    return {r[0]: (r[1], round(r[2], 2), iso(r[3])) for r in rows}


def _expected_payments(api) -> dict[int, tuple]:
    return {r["payment_id"]: (r["status"], r["amount"], r["updated_at"]) for r in api_rows(api, "payments")}


def test_merge_updates_payments_in_place_never_duplicates(make_platform, payments_api):
    platform = make_platform()
    assert platform.run().success
    before = platform.count("payments")
    changed = payments_api.update_payments(60)
    assert platform.run().success
    assert platform.count("payments") == before  # updated, not appended
    loaded, expected = _payments(platform), _expected_payments(payments_api)
    assert loaded == expected
    assert all(loaded[pid][2] == expected[pid][2] for pid in changed)


def test_append_events_adds_only_the_new_events(make_platform, payments_api):
    platform = make_platform()
    assert platform.run().success
    before = platform.count("events")
    new_ids = payments_api.add_events(40)
    assert platform.run().success
    assert platform.count("events") == before + len(new_ids)
    loaded = [r[0] for r in platform.query("select event_id from payments_api.events")]
    assert sorted(loaded) == sorted(r["event_id"] for r in api_rows(payments_api, "events"))


def test_replace_payment_methods_mirrors_the_current_list(make_platform, payments_api):
    platform = make_platform()
    assert platform.run().success
    assert platform.count("payment_methods") > 2
    payments_api.set_payment_methods(
        [{"code": "card", "name": "Card", "active": True}, {"code": "sepa", "name": "SEPA", "active": False}]
    )
    assert platform.run().success
    rows = platform.query("select code, name, active from payments_api.payment_methods order by code")
    assert rows == [("card", "Card", True), ("sepa", "SEPA", False)]


def test_refunds_merge_picks_up_new_refunds_and_the_refunded_payments(make_platform, payments_api):
    platform = make_platform()
    assert platform.run().success
    new_refunds = payments_api.add_refunds(15)
    assert platform.run().success
    loaded = {r[0] for r in platform.query("select refund_id from payments_api.refunds")}
    assert set(new_refunds) <= loaded
    assert loaded == {r["refund_id"] for r in api_rows(payments_api, "refunds")}
    assert _payments(platform) == _expected_payments(payments_api)
