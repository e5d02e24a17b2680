import csv
import os
from datetime import date, timedelta

import numpy as np
import pytest

from dataplat_sandbox import data as d
from dataplat_sandbox.landing import DEFECTS, SALES_COLUMNS, write_landing, write_sales_csv


def _rows(path, delimiter=","):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f, delimiter=delimiter))


def test_clean_folder_has_one_file_per_day(landing_folder, sandbox_config):
    files = sorted((landing_folder / "sales").iterdir())
    days = [sandbox_config.start_date + timedelta(days=i) for i in range(sandbox_config.days)]
    assert [f.name for f in files] == [f"{day.isoformat()}.csv" for day in days]
    items = d.generate_cached(sandbox_config).items
    total = 0
    for f in files:
        rows = _rows(f)
        assert rows[0] == list(SALES_COLUMNS)
        assert all(r[2].startswith(f.stem) for r in rows[1:])  # each file holds only its own day
        total += len(rows) - 1
    assert total == len(items.order_id)
    first = _rows(files[0])[1]
    assert int(first[5]) * float(first[6]) == pytest.approx(float(first[7]))


def test_deterministic_and_atomic(tmp_path, sandbox_config):
    a = write_landing(tmp_path / "a", sandbox_config, dates=[sandbox_config.start_date])
    b = write_landing(tmp_path / "b", sandbox_config, dates=[sandbox_config.start_date])
    assert a[0].read_bytes() == b[0].read_bytes()
    assert a.rows[sandbox_config.start_date] == len(_rows(a[0])) - 1
    # Temp files are renamed into place: nothing but the final file remains.
    assert [p.name for p in (tmp_path / "a" / "sales").iterdir()] == [a[0].name]


def test_every_defect(tmp_path, sandbox_config):
    start = sandbox_config.start_date
    defects = {start + timedelta(days=i): name for i, name in enumerate(DEFECTS)}
    files = write_landing(tmp_path, sandbox_config, dates=sorted(defects), defects=defects)
    by_name = {defects[date.fromisoformat(p.stem)]: p for p in files}
    header = list(SALES_COLUMNS)

    bad_day = next(day for day, name in defects.items() if name == "bad_types")
    rows = _rows(by_name["bad_types"])[1:]
    bad = 0
    for r in rows:
        try:
            int(r[5])
            np.datetime64(r[2].rstrip("Z"))
        except ValueError:
            bad += 1
    assert bad == files.bad_rows[bad_day] > 0

    assert _rows(by_name["missing_column"])[0] == header[:-1]
    assert _rows(by_name["extra_column"])[0] == [*header, "coupon_code"]
    retyped = _rows(by_name["retyped_column"])
    assert retyped[0] == header and all(r[3].startswith("C-") for r in retyped[1:])
    assert by_name["empty_file"].stat().st_size == 0
    assert _rows(by_name["header_only"]) == [header]
    semi = _rows(by_name["wrong_delimiter"], ";")
    assert (
        semi[0] == header
        and len(semi) > 1
        and "," not in by_name["wrong_delimiter"].read_text().split("\n")[0]
    )
    garbage = by_name["not_csv"].read_bytes()
    assert b"\x00" in garbage
    with pytest.raises(UnicodeDecodeError):
        garbage.decode("utf-8")


def test_unknown_defect_is_rejected(tmp_path, sandbox_config):
    with pytest.raises(ValueError, match="unknown defect"):
        write_landing(tmp_path, sandbox_config, defects={sandbox_config.start_date: "nope"})


def test_big_sales_csv(tmp_path, sandbox_config):
    n = write_sales_csv(tmp_path / "sales.csv", sandbox_config)
    rows = _rows(tmp_path / "sales.csv")
    assert rows[0] == list(SALES_COLUMNS) and len(rows) - 1 == n == len(
        d.generate_cached(sandbox_config).items.order_id
    )
    assert write_sales_csv(tmp_path / "cut.csv", sandbox_config, rows=10) == 10
    assert len(_rows(tmp_path / "cut.csv")) == 11


def test_writing_the_same_day_again_leaves_the_delivered_file_untouched(tmp_path, sandbox_config):
    (path,) = write_landing(tmp_path, sandbox_config, dates=[sandbox_config.start_date])
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    write_landing(tmp_path, sandbox_config, dates=[sandbox_config.start_date])
    assert path.stat().st_mtime_ns == 1_000_000_000  # not re-delivered
    path.write_text("someone else's bytes\n")
    write_landing(tmp_path, sandbox_config, dates=[sandbox_config.start_date])
    assert path.read_bytes() != b"someone else's bytes\n"  # different content is delivered again
