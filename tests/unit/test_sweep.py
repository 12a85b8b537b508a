"""Sweeps: the search-space grammar shared by the Optuna sweeper and Azure ML sweep jobs."""

from __future__ import annotations

import pytest

from t5sum.errors import ConfigError
from t5sum.sweep.space import Param, parse_space


def test_space_grammar_covers_choice_log_interval_int_range_and_lists():
    space = {
        p.name: p
        for p in parse_space(
            {
                "lr": "tag(log, interval(1e-5, 1e-3))",
                "dropout": "interval(0.0, 0.1)",
                "r": "choice(4, 8, 16)",
                "modules": [["q", "v"], ["q", "k", "v"]],
                "batch": "range(4, 17, 4)",
                "accumulate": "tag(int, interval(1, 4))",
            }
        )
    }
    assert space["lr"] == Param("lr", "float", low=1e-5, high=1e-3, log=True)
    assert space["dropout"].continuous and not space["dropout"].log
    assert space["r"].grid() == [4, 8, 16]
    assert space["modules"].grid() == [["q", "v"], ["q", "k", "v"]]
    assert space["batch"].grid() == [4, 8, 12, 16]  # stop is exclusive, like Python's range
    assert space["accumulate"].grid() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("interval(0.1, 0.01)", "needs low < high"),
        ("tag(log, interval(0.0, 1.0))", "needs low > 0"),
        ("range(5, 1)", "is empty"),
        ("0.5", "is a fixed value"),
        ("tag(sqrt, interval(1.0, 2.0))", "unknown tag"),
        ("choice(1,", "does not parse"),
    ],
)
def test_bad_space_entries_fail_with_the_key_named(value, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_space({"optimizer.lr": value})
    assert "optimizer.lr" in str(err.value)


def test_every_problem_is_reported_at_once_and_grid_rejects_continuous_ranges():
    with pytest.raises(ConfigError) as err:
        parse_space({"a": "interval(2.0, 1.0)", "b": "7"})
    assert "a:" in str(err.value) and "b:" in str(err.value)
    with pytest.raises(ConfigError, match="continuous range and has no grid"):
        parse_space({"lr": "interval(0.1, 0.2)"})[0].grid()
    with pytest.raises(ConfigError, match="empty"):
        parse_space({})
