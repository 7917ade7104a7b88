"""The TUI's chart renderer (tui/chart.py): exact plot text of small cases, axes, options, legend."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from prompt_toolkit.utils import get_cwidth

from gitvault.tui import chart
from gitvault.tui.chart import ChartOptions, Series

AXIS_CHARS = "│┤"


def texts(lines: list[chart.Line]) -> list[str]:
    return ["".join(text for _, text in line) for line in lines]


def plot_rows(lines: list[chart.Line]) -> list[str]:
    """The plot part (right of the y axis) of each plot row."""
    return [re.split(f"[{AXIS_CHARS}]", t, maxsplit=1)[1] for t in texts(lines)[1:]
            if re.match(rf"^ *[^ {AXIS_CHARS}]* *[{AXIS_CHARS}]", t)]


def y_labels(lines: list[chart.Line]) -> list[str]:
    return [t.split("┤", 1)[0].strip() for t in texts(lines)[1:] if re.match(r"^ *\S+┤", t)]


def x_labels(lines: list[chart.Line]) -> list[str]:
    rows = texts(lines)
    return rows[1 + len(plot_rows(lines))].split()


def value(label: str) -> float:
    """A tick label back to its number: 12k, 1.5M, 1.5e-05, 0.25."""
    units = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    if label[-1] in units:
        return float(label[:-1]) * units[label[-1]]
    return float(label)


def tops(rows: list[str]) -> list[int | None]:
    """For each plot column, the index of the highest row holding a mark (None if empty)."""
    return [next((r for r, row in enumerate(rows) if row[c] != " "), None) for c in range(len(rows[0]))]


def render(series: list[Series], width: int = 40, height: int = 12, **options: object) -> list[chart.Line]:
    lines = chart.render("t", series, width, height, ChartOptions(**options))  # type: ignore[arg-type]
    assert len(lines) == height
    for line in lines:
        assert sum(get_cwidth(text) for _, text in line) == width, texts([line])
    return lines


def curve(values: object, steps: object = None, label: str = "s") -> Series:
    v = np.asarray(values, dtype=float)
    return Series(label, np.arange(len(v)) if steps is None else np.asarray(steps), v)


def test_diagonal_goes_up_left_to_right_exactly() -> None:
    lines = render([curve(np.arange(10.0))], 20, 6)
    assert texts(lines) == [
        "t                   ",
        " │             ⣀⡠⠤⠒⠊",
        "5┤       ⣀⠤⠤⠒⠊⠉     ",
        "0┤⣀⣀⠤⠔⠒⠉⠉           ",
        "  0   2   4   6   8 ",
        "● s                 ",
    ]
    top = [t for t in tops(plot_rows(lines)) if t is not None]
    assert top == sorted(top, reverse=True) and top[0] > top[-1]


def test_every_line_is_exactly_width_cells_in_every_mode() -> None:
    rng = np.random.default_rng(1)
    data = [curve(rng.normal(1, 1, 300).cumsum(), label=f"run {i} " * i) for i in range(5)]
    for width, height in ((20, 5), (21, 7), (33, 9), (80, 24), (200, 50)):
        for options in (ChartOptions(), ChartOptions(log_y=True), ChartOptions(smooth=0.9, last_n=50),
                        ChartOptions(marker="ascii", x_max=1000)):
            render(data, width, height, **options.__dict__)


def test_a_single_spike_among_100k_flat_points_reaches_the_top_row() -> None:
    values = np.ones(100_000)
    values[61_234] = 3.0
    rows = plot_rows(render([curve(values)], 40, 8))
    assert rows[0].strip() != "" and len(rows[0].strip()) == 1  # one column reaches the top
    assert rows[-1].count(" ") == 0  # the flat line is drawn along the bottom row


def test_fragments_merge_runs_of_one_style() -> None:
    lines = chart.render("t", [curve(np.arange(50.0)), curve(np.arange(50.0)[::-1], label="b")], 40, 10,
                         colours=["fg:#111111", "fg:#222222"])
    for line in lines[1:6]:
        styles = [style for style, _ in line]
        assert all(a != b for a, b in zip(styles, styles[1:]))
    plot_styles = {style for line in lines[1:7] for style, _ in line[1:]}
    assert {"fg:#111111", "fg:#222222"} <= plot_styles
    assert lines[0][0][0] == "class:chart.title"
    assert all(line[0][0] == "class:chart.axis" for line in lines[1:7])


def test_the_last_series_colours_a_shared_cell() -> None:
    flat = [curve(np.ones(20), label="a"), curve(np.ones(20), label="b")]
    lines = chart.render("t", flat, 30, 8, colours=["fg:#aaaaaa", "fg:#bbbbbb"])
    drawn = {style for line in lines[1:5] for style, text in line[1:] if text.strip()}
    assert drawn == {"fg:#bbbbbb"}


def test_non_negative_data_never_get_a_negative_tick() -> None:
    rng = np.random.default_rng(2)
    for values in (np.abs(rng.normal(0, 0.01, 500)), np.linspace(0, 5, 100), np.r_[0.0, 1e-5, 2e-5]):
        lines = render([curve(values)], 40, 12)
        assert y_labels(lines) and all(value(label) >= 0 for label in y_labels(lines))
    # 0 sits on the bottom dot row: the axis does not reach below 0
    grid = dots(plot_rows(render([curve(np.linspace(0, 5, 100))], 40, 30)))
    assert grid[-1, 0]


def test_non_positive_data_never_get_a_positive_tick() -> None:
    lines = render([curve(-np.linspace(0, 5, 100))], 40, 12)
    assert all(value(label) <= 0 for label in y_labels(lines))


@pytest.mark.parametrize("size", [(40, 12), (80, 20), (120, 30), (60, 16)])
@pytest.mark.parametrize("data", ["loss", "wide", "small"])
def test_three_to_five_nice_ticks_on_each_axis(size: tuple[int, int], data: str) -> None:
    steps = np.arange(0, 10_001, 10)
    values = {"loss": 2 / (1 + steps / 300), "wide": steps * 37.0, "small": 1e-5 + steps * 1e-9}[data]
    lines = render([curve(values, steps)], *size)
    ys, xs = y_labels(lines), x_labels(lines)
    assert 3 <= len(ys) <= 5 and 3 <= len(xs) <= 5, (ys, xs)
    for labels in (ys, xs):
        numbers = [value(label) for label in labels]
        steps_between = np.diff(sorted(numbers))
        assert np.allclose(steps_between, steps_between[0])  # evenly spaced
        mantissa = steps_between[0] / 10 ** math.floor(math.log10(steps_between[0]))
        assert round(mantissa, 6) in (1, 2, 2.5, 5)
    assert [value(label) for label in ys] == sorted((value(label) for label in ys), reverse=True)


def test_tick_labels_are_compact() -> None:
    assert chart.tick_label(0.25, 0.25) == "0.25"
    assert chart.tick_label(1.5e-05, 5e-06) == "1.5e-05"
    assert chart.tick_label(12_000, 2_000) == "12k"
    assert chart.tick_label(12_500, 2_500) == "12.5k"
    assert chart.tick_label(1_500_000, 500_000) == "1.5M"
    assert chart.tick_label(0.30000000000000004, 0.1) == "0.3"
    assert chart.tick_label(0.0, 0.1) == "0"


def test_x_max_pins_the_last_x_tick() -> None:
    data = [curve(np.linspace(1, 0, 301))]
    assert x_labels(render(data, 60, 12, x_max=2000))[-1] == "2k"
    assert value(x_labels(render(data, 60, 12, x_max=1234))[-1]) == 1234
    rows = plot_rows(render(data, 60, 12, x_max=2000))
    assert all(row[len(row) // 2:].strip() == "" for row in rows)  # the run fills from the left
    assert value(x_labels(render(data, 60, 12, x_max=100))[-1]) <= 300  # a pin before the data is no pin


def test_last_n_shows_only_the_tail() -> None:
    steps = np.arange(10_001)
    values = np.where(steps < 9_000, 100.0, 1.0 + steps / 10_000)
    lines = render([curve(values, steps)], 60, 12, last_n=500)
    assert "last 500" in texts(lines)[0]
    assert all(9_500 < value(label) <= 10_000 for label in x_labels(lines))
    assert all(value(label) < 3 for label in y_labels(lines))  # the 100s before the tail are out


def test_log_y_ticks_are_powers_of_ten_and_non_positive_values_are_reported() -> None:
    steps = np.arange(1000)
    values = 10.0 ** (-steps / 250)
    values[10] = 0.0
    values[20] = -1.0
    lines = render([curve(values, steps)], 50, 14, log_y=True)
    assert "log-y: 2 values <= 0 not drawn" in texts(lines)[0]
    labels = y_labels(lines)
    assert 3 <= len(labels) <= 5
    assert all(math.log10(value(label)).is_integer() for label in labels)
    assert "log-y" in texts(render([curve(values[:5] + 1)], 50, 14, log_y=True))[0]
    long_title = texts(chart.render("a/very/long/curve/name" * 3, [curve(values, steps)], 50, 14,
                                    ChartOptions(log_y=True)))[0]
    assert long_title.startswith("a/very") and long_title.endswith("2 values <= 0 not drawn")


def test_log_y_over_a_small_range_uses_1_2_5_ticks() -> None:
    labels = y_labels(render([curve(np.linspace(0.4, 3, 100))], 40, 14, log_y=True))
    assert {value(label) for label in labels} <= {0.5, 1, 2}
    assert len(labels) == 3


def test_ema_is_debiased_and_matches_tensorboard_smoothing() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0, 1, 5_000)
    values[[7, 100, 4_000]] = np.nan
    for weight in (0.0, 0.3, 0.6, 0.9, 0.99, 0.999):
        expected, last, count = [], 0.0, 0
        for v in values:  # tensorboard/plugins/scalar: vz_line_chart2 resmoothDataset
            if not math.isfinite(v):
                expected.append(v)
                continue
            last = last * weight + (1 - weight) * v
            count += 1
            expected.append(last / (1 - weight ** count) if weight else v)
        np.testing.assert_allclose(chart.ema(values, weight), expected, rtol=1e-9, atol=1e-12)
    assert chart.ema(np.array([5.0, 5.0]), 0.9).tolist() == pytest.approx([5.0, 5.0])


def test_smoothing_changes_the_line_and_makes_a_noisy_decrease_monotone() -> None:
    rng = np.random.default_rng(4)
    steps = np.arange(2_000)
    values = 3.0 - steps * 0.001 + rng.uniform(-0.08, 0.08, len(steps))
    raw = plot_rows(render([curve(values, steps)], 60, 16))
    smooth_lines = render([curve(values, steps)], 60, 16, smooth=0.99)
    smooth = plot_rows(smooth_lines)
    assert raw != smooth
    assert "smooth 0.99" in texts(smooth_lines)[0]
    assert np.all(np.diff(chart.ema(values, 0.99)[200:]) < 0)
    smooth_tops = [t for t in tops(smooth) if t is not None]
    assert smooth_tops[5:] == sorted(smooth_tops[5:])  # only ever goes down (after the first steps)
    dots = {name: sum(bin(ord(ch) - 0x2800).count("1") for row in rows for ch in row if ch != " ")
            for name, rows in (("raw", raw), ("smooth", smooth))}
    assert dots["smooth"] * 2 < dots["raw"]  # the noise band is gone: a thin line is left


def test_nan_leaves_a_gap_of_empty_columns() -> None:
    values = np.arange(100.0) / 10
    values[40:60] = np.nan
    rows = plot_rows(render([curve(values)], 30, 8))
    width = len(rows[0])
    empty = [c for c in range(width) if all(row[c] == " " for row in rows)]
    assert empty and min(empty) > 2 and max(empty) < width - 3  # a hole in the middle
    assert width * 0.12 < len(empty) < width * 0.25  # about 20 of 100 steps


def dots(rows: list[str]) -> np.ndarray:
    """The braille dot grid of plot rows: (4 x rows, 2 x columns) booleans, top row first."""
    grid = np.zeros((4 * len(rows), 2 * len(rows[0])), dtype=bool)
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            bits = ord(ch) - 0x2800 if ch != " " else 0
            for (dy, dx), bit in np.ndenumerate(chart._BRAILLE_BITS):
                grid[4 * r + dy, 2 * c + dx] = bool(bits & bit)
    return grid


def assert_no_holes(grid: np.ndarray) -> None:
    lit = [np.flatnonzero(grid[:, c]) for c in range(grid.shape[1])]
    drawn = [c for c, rows in enumerate(lit) if len(rows)]
    assert drawn == list(range(drawn[0], drawn[-1] + 1))  # no empty column inside
    for a, b in zip(lit[drawn[0]:drawn[-1]], lit[drawn[0] + 1:drawn[-1] + 1]):
        assert min(abs(a[:, None] - b[None, :]).ravel()) <= 1  # neighbouring columns touch


@pytest.mark.parametrize("values, steps", [
    ([0.0, 10.0, 0.0], [0, 50, 100]),                        # sparse: straight lines between points
    (np.arange(60) % 2 * 10.0, np.arange(60) * 1000),         # a zigzag steeper than the dots
    ((np.arange(500) // 50 % 2) * 10.0, np.arange(500)),      # a square wave: vertical jumps
])
def test_lines_have_no_holes(values: object, steps: object) -> None:
    rows = plot_rows(render([curve(values, steps)], 24, 30))
    assert_no_holes(dots(rows))


def test_a_constant_series_is_a_flat_line_mid_plot() -> None:
    lines = render([curve(np.full(100, 0.5))], 30, 9)
    rows = plot_rows(lines)
    lit = [r for r, row in enumerate(rows) if row.strip()]
    assert len(lit) == 1 and 0 < lit[0] < len(rows) - 1
    assert set(rows[lit[0]]) == {rows[lit[0]][0]}  # the whole width, one glyph
    assert "0.5" in y_labels(lines)


@pytest.mark.parametrize("series", [[], [curve([np.nan, np.nan])], [curve([np.inf, -np.inf])]])
def test_no_points_yet(series: list[Series]) -> None:
    lines = texts(render(series, 30, 6))
    assert lines[0].startswith("t") and sum("no points yet" in line for line in lines) == 1


def test_log_y_with_only_non_positive_values_has_no_points() -> None:
    lines = texts(render([curve([0.0, -1.0])], 40, 6, log_y=True))
    assert "2 values <= 0" in lines[0] and any("no points yet" in line for line in lines)


@pytest.mark.parametrize("size", [(19, 10), (40, 4), (10, 3), (5, 1)])
def test_a_box_too_small_says_so(size: tuple[int, int]) -> None:
    width, height = size
    lines = texts(chart.render("t", [curve([1.0, 2.0])], width, height))
    assert len(lines) == height and all(len(line) == width for line in lines)
    assert any("chart needs 20x5"[:max(1, width - 1)] in line for line in lines)
    assert chart.render("t", [curve([1.0, 2.0])], 0, 0) == []


def test_more_series_than_the_palette_get_distinct_colours_and_a_counted_legend() -> None:
    assert len(chart.PALETTE) >= 16
    assert len({chart.colour_for(i) for i in range(200)}) == 200
    assert all(re.fullmatch(r"fg:#[0-9a-f]{6}", chart.colour_for(i)) for i in range(40))
    many = [curve(np.arange(10.0) * i, label=f"run-{i}") for i in range(30)]
    tall = chart.render("t", many, 200, 60)
    markers = [style for line in tall for style, text in line if text == "●"]
    assert len(markers) == 30 and len(set(markers)) == 30
    assert not any("more" in t for t in texts(tall))
    short = texts(render(many, 60, 10))
    shown = sum(len(re.findall(r"● run-\d+", t)) for t in short)
    more = [int(m) for t in short for m in re.findall(r"\+(\d+) more", t)]
    assert more == [30 - shown] and shown > 0


def test_ascii_marker_is_plain_ascii() -> None:
    lines = texts(render([curve(np.sin(np.arange(300) / 30))], 40, 10, marker="ascii"))
    assert all(ord(ch) < 128 for line in lines for ch in line)
    assert any("*" in line for line in lines[1:7]) and "* s" in lines[-1]
    with pytest.raises(ValueError):
        chart.render("t", [], 40, 10, ChartOptions(marker="blocks"))


def test_decimate_keeps_min_and_max_per_column() -> None:
    steps = np.arange(100)
    values = np.zeros(100)
    values[13] = 7.0
    values[14] = -2.0
    values[50:60] = np.nan
    mins, maxs = chart.decimate(steps, values, 0, 100, 10)
    assert maxs[1] == 7.0 and mins[1] == -2.0
    assert np.isnan(mins[5]) and np.isnan(maxs[5])
    assert np.all(mins[[0, 2, 3, 4, 6, 7, 8, 9]] == 0)


@pytest.mark.parametrize("names, expected", [
    (["train/loss", "val/loss", "lr"], [("loss", ["train/loss", "val/loss"]), ("lr", ["lr"])]),
    (["loss/train", "loss/val"], [("loss", ["loss/train", "loss/val"])]),
    (["train_loss", "val_loss", "Test_loss"], [("loss", ["train_loss", "val_loss", "Test_loss"])]),
    (["acc", "validation/acc", "train/acc"], [("acc", ["acc"]), ("acc", ["validation/acc", "train/acc"])]),
    (["eval/f1", "device/temp", "train"], [("f1", ["eval/f1"]), ("device/temp", ["device/temp"]), ("train", ["train"])]),
    ([], []),
])
def test_group_curves(names: list[str], expected: list[tuple[str, list[str]]]) -> None:
    assert chart.group_curves(names) == expected


def test_legend_label() -> None:
    assert chart.legend_label("train/loss", "loss") == "train"
    assert chart.legend_label("loss/VAL", "loss") == "VAL"
    assert chart.legend_label("lr", "lr") == "lr"
    assert chart.legend_label("train/loss", "acc") == "train/loss"
