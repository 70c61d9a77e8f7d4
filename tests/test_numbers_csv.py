"""Numbers and CSV files as people write them: plain decimal scores, semicolons and decimal
commas, dates in a local layout, and the simulated anonymised tables that pool.

What is refused, and with which line, is in tests/test_tracebacks.py (issue 22: numbers,
CSV files); this file pins what is accepted and what it becomes.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import dump

from nof1.analysis.csv_input import series_from_csv
from nof1.cli import cli
from nof1.diary.cells import date_pattern, parse_number, read_date, sniff_delimiter
from nof1.trial.handle import open_trial


@pytest.mark.parametrize(
    "text, value",
    [
        ("6", 6.0),
        ("6.5", 6.5),
        (" 10 ", 10.0),
        ("0", 0.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("-1.5", -1.5),
    ],
)
def test_a_plain_decimal_is_a_score(text, value):
    assert parse_number(text, "pain score") == value


def test_a_decimal_comma_is_read_only_when_asked():
    assert parse_number("6,5", "pain", decimal_comma=True) == 6.5
    assert parse_number("6.5", "pain", decimal_comma=True) == 6.5
    with pytest.raises(ValueError, match="has a decimal comma; write 6.5"):
        parse_number("6,5", "pain")
    with pytest.raises(ValueError, match="is not a number"):
        parse_number("6,5,1", "pain", decimal_comma=True)


def test_the_delimiter_is_the_one_the_header_holds_most():
    assert sniff_delimiter("date;pain;note") == ";"
    assert sniff_delimiter("date\tpain") == "\t"
    assert sniff_delimiter("date,pain;x") == ","  # a tie: the comma
    assert sniff_delimiter("pain") == ","


@pytest.mark.parametrize(
    "layout, text, day",
    [
        ("DD.MM.YYYY", "05.01.2026", date(2026, 1, 5)),
        ("dd.mm.yyyy", "5.1.2026", date(2026, 1, 5)),
        ("MM/DD/YYYY", "01/05/2026", date(2026, 1, 5)),
        ("YYYY/MM/DD", "2026/01/05", date(2026, 1, 5)),
        ("DD MM YYYY", "05 01 2026", date(2026, 1, 5)),
    ],
)
def test_a_date_format_reads_its_layout(layout, text, day):
    assert read_date(text, date_pattern(layout)) == day


def test_a_date_format_takes_only_digits_0_to_9():
    with pytest.raises(ValueError, match="does not have the layout"):
        read_date("\u0660\u0665.01.2026", date_pattern("DD.MM.YYYY"))


def _records(trial) -> dict[date, dict[str, float]]:
    return {r.entry.date: dict(r.entry.values) for r in open_trial(trial).existing_diary().records}


def test_import_reads_a_european_csv(trial, tmp_path, freeze_today):
    freeze_today(date(2026, 1, 8))
    src = tmp_path / "eu.csv"
    src.write_text("date;pain;note\n05.01.2026;6,5;gut\n06.01.2026;7;\n07.01.2026; 4,0 ;\n")
    res = CliRunner().invoke(
        cli, ["import", "--trial", str(trial), str(src), "--date-format", "DD.MM.YYYY"]
    )
    assert res.exit_code == 0, res.output
    assert res.output == f"Imported 3 entries from {src}.\n"
    assert _records(trial) == {
        date(2026, 1, 5): {"pain": 6.5},
        date(2026, 1, 6): {"pain": 7.0},
        date(2026, 1, 7): {"pain": 4.0},
    }


def test_import_reads_a_tab_separated_csv_with_iso_dates(trial, tmp_path, freeze_today):
    freeze_today(date(2026, 1, 8))
    src = tmp_path / "tabs.csv"
    src.write_text("date\tpain\tside_effects\n2026-01-05\t3,5\tno\n2026-01-06\t2\tyes\n")
    res = CliRunner().invoke(cli, ["import", "--trial", str(trial), str(src)])
    assert res.exit_code == 0, res.output
    assert _records(trial) == {
        date(2026, 1, 5): {"pain": 3.5, "side_effects": 0.0},
        date(2026, 1, 6): {"pain": 2.0, "side_effects": 1.0},
    }


def test_a_refused_european_csv_leaves_no_diary(trial, tmp_path, freeze_today):
    freeze_today(date(2026, 1, 8))
    src = tmp_path / "eu.csv"
    src.write_text('date,pain\n2026-01-05,"6,5"\n')
    res = CliRunner().invoke(cli, ["import", "--trial", str(trial), str(src)])
    assert res.exit_code == 1
    assert "has a decimal comma; write 6.5" in res.output
    assert dump(trial) is None


def _days(n: int = 28) -> list[tuple[date, str, float]]:
    start = date(2026, 1, 5)
    return [
        (
            date.fromordinal(start.toordinal() + i),
            "mg" if i // 7 % 2 == 0 else "pl",
            4 + i % 3 + 0.5,
        )
        for i in range(n)
    ]


def test_analyze_csv_reads_semicolons_decimal_commas_and_local_dates(tmp_path):
    iso = tmp_path / "iso.csv"
    iso.write_text("date,arm,pain\n" + "".join(f"{d},{a},{y}\n" for d, a, y in _days()))
    eu = tmp_path / "eu.csv"
    eu.write_text(
        "Datum;arm;pain\n"
        + "".join(f"{d:%d.%m.%Y};{a};{str(y).replace('.', ',')}\n" for d, a, y in _days())
    )
    a = series_from_csv(iso, "pain", "arm", active="mg", time="date")
    b = series_from_csv(eu, "pain", "arm", active="mg", time="Datum", date_format="DD.MM.YYYY")
    assert np.array_equal(a.y, b.y) and np.array_equal(a.day, b.day)
    assert a.y[0] == 4.5
    runs = [
        CliRunner().invoke(cli, ["analyze", "--json", *args, "--outcome", "pain"]
                           + ["--treatment", "arm", "--active", "mg"])
        for args in (["--csv", str(iso), "--time", "date"],
                     ["--csv", str(eu), "--time", "Datum", "--date-format", "DD.MM.YYYY"])
    ]  # fmt: skip
    assert [r.exit_code for r in runs] == [0, 0], runs[1].output
    means = [json.loads(r.output)["effect"] for r in runs]
    assert means[0] == means[1]


def test_the_report_help_example_names_the_active_arm_and_works(tmp_path, monkeypatch):
    help_text = CliRunner().invoke(cli, ["report", "--help"]).output
    joined = help_text.replace("\\\n", " ")  # a command continued on the next line
    example = next(line.strip() for line in joined.splitlines() if "report --csv" in line)
    assert "--active" in example
    monkeypatch.chdir(tmp_path)
    (tmp_path / "diary.csv").write_text(
        "day,arm,pain\n" + "".join(f"{i + 1},{a},{y}\n" for i, (_, a, y) in enumerate(_days()))
    )
    args = example.split("nof1 ", 1)[1].split()
    args[args.index("--active") + 1] = "mg"  # the example's arms are magnesium/placebo
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report.html").exists()


def test_anonymise_simulated_keeps_pain_on_its_scale_so_that_it_pools(tmp_path):
    from nof1.design.simulate import simulate_pool
    from nof1.research.anonymise import anonymise_simulated, write_anonymised
    from nof1.research.pool import pool_files

    trials = simulate_pool(6, mu=-1.0, tau_between=0.5, sd=2.5, baseline=(8.5, 9.5), rng=3)
    raw = np.concatenate([t.frame["pain"].to_numpy(dtype=float) for t in trials])
    assert np.nanmax(raw) > 10  # what the simulation draws goes beyond the scale ...
    frame = anonymise_simulated(trials)
    pain = frame["pain"].to_numpy(dtype=float)
    assert np.nanmin(pain) >= 0 and np.nanmax(pain) <= 10  # ... what is exported does not
    assert np.isnan(pain).sum() == np.isnan(raw).sum()  # missing days stay missing
    inside = ~np.isnan(raw) & (raw >= 0) & (raw <= 10)
    assert np.array_equal(pain[inside], raw[inside])
    path = tmp_path / "sim.csv"
    write_anonymised(frame, path)
    result = pool_files([path], engine="fast")
    assert len(result.series) == 6


def test_a_dataframe_keeps_floats_that_pandas_writes_with_an_exponent():
    import pandas as pd

    from nof1.analysis.csv_input import series_from_frame

    frame = pd.DataFrame({"pain": [1e-05, 2.0, 3.0, 4.0] * 2, "arm": list("AABB") * 2})
    series = series_from_frame(frame, "pain", "arm")
    assert series.y[0] == 1e-05 and series.y[1] == 2.0


def test_a_numeric_arm_label_is_a_plain_number(tmp_path):
    src = tmp_path / "arms.csv"
    src.write_text(
        "arm,pain\n" + "".join(f"{'1' if i // 2 % 2 else '2'},{i % 5}\n" for i in range(8))
    )
    assert series_from_csv(src, "pain", "arm").active.tolist() == [1, 1, 0, 0] * 2  # 2 is A
    src.write_text(src.read_text().replace("\n1,", "\n1_0,"))
    with pytest.raises(Exception, match="give --active '1_0' or --active '2'"):
        series_from_csv(src, "pain", "arm")
