"""``report.png``: the deadline-miss report at a glance, drawn from report.json (and cycles.csv, streamed).

Panels: response-time CCDF per robot with each robot's deadline; misses over time
by cause; release-jitter CCDF; cumulative misses per robot; one age-at-use CCDF
panel per sensor kind with each sensor's ``max_age``. Every panel colours a robot
the same (``plotdata.robot_colours``); the robot legend sits in a column of its own
right of the panels, so no legend covers data. Tail probabilities are on log axes,
where the few slow cycles that miss are visible.

matplotlib is imported inside ``write_report_png`` (Agg, no pyplot state), so a
headless run does not pay its import time until the run is over.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from sim.common.files import write_atomic
from sim.report import plotdata
from sim.report.hists import Ccdf
from sim.report.plotdata import GREY, RobotColours, TimeBins

# causes: muted colours with hatches, so no cause is mistaken for a robot of the same hue
CAUSE_STYLE = {"late_release": ("#9ecae1", "//"), "input_wait": ("#fdd0a2", ".."),
               "long_compute": ("#c7c7c7", "xx"), "interference": ("#dadaeb", "\\\\")}
SENSOR_STYLES = ["-", "-.", ":", (0, (8, 2)), (0, (1, 1, 4, 1))]  # several sensors of one kind on one robot
FIG_WIDTH = 16.0  # inches; the height grows with the rows of age panels
PANELS_TOP_IN = 1.2  # inches from the top: the title above
UPPER_IN = 6.7  # inches from the top to the bottom of the upper four panels
AGE_TOP_IN = 1.1  # inches from there to the first age panels' top (the x labels above, the titles)
AGE_AXES_IN = 2.3  # inches: the height of an age panel
AGE_ROW_IN = 3.8  # inches per row of age panels (axes, x label and its note, the next row's titles)
AGES_PER_ROW = 5
LEGEND_X = 0.855  # figure x where the legend column starts; every axes ends left of it
AXES_RIGHT = 0.835
VIRTUAL_HINT = {"VirtualClock": "\n(virtual clock: compute takes no simulated time unless the controller\n"
                                "has an execution: model, docs/virtual-time.md)"}


def write_report_png(report: dict[str, Any], cycles_csv: Path, out: Path, dpi: int = 100) -> Path:
    """Draw the report's panels; write ``out`` (PNG) and return it."""
    fig = draw_report(report, Path(cycles_csv))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    write_atomic(Path(out), buf.getvalue())
    return Path(out)


def draw_report(report: dict[str, Any], cycles_csv: Path) -> Any:
    """The report figure (a matplotlib ``Figure`` on the Agg canvas, nothing saved)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    controllers = report.get("controllers", [])
    sensors = report.get("sensors", [])
    colours = plotdata.robot_colours(controllers)
    kinds = sorted({s["kind"] for s in sensors})
    rows = max(1, math.ceil(len(kinds) / AGES_PER_ROW))
    height = UPPER_IN + AGE_TOP_IN + rows * AGE_ROW_IN - 0.35  # inches: a row of age panels per AGES_PER_ROW kinds
    # fixed margins rather than a layout engine: a layout engine draws everything twice
    fig = Figure(figsize=(FIG_WIDTH, height), dpi=100)
    FigureCanvasAgg(fig)
    upper = fig.add_gridspec(2, 2, left=0.05, right=AXES_RIGHT, top=1 - PANELS_TOP_IN / height,
                             bottom=1 - UPPER_IN / height, wspace=0.17, hspace=0.5, width_ratios=[1.15, 1.0])
    per_row = min(max(len(kinds), 1), AGES_PER_ROW)
    lower = [fig.add_gridspec(1, per_row, left=0.05, right=AXES_RIGHT, wspace=0.42,
                              top=1 - (UPPER_IN + AGE_TOP_IN + r * AGE_ROW_IN) / height,
                              bottom=1 - (UPPER_IN + AGE_TOP_IN + AGE_AXES_IN + r * AGE_ROW_IN) / height)
             for r in range(rows)]
    # gids name the panels for the tests (and anyone post-processing the figure)
    ax_resp, ax_cause = fig.add_subplot(upper[0, 0], gid="response"), fig.add_subplot(upper[0, 1], gid="causes")
    ax_jit, ax_robot = fig.add_subplot(upper[1, 0], gid="jitter"), fig.add_subplot(upper[1, 1], gid="robots")
    fig.suptitle(_title(report), fontsize=12, x=0.05, y=1 - 0.15 / height, ha="left", va="top")

    _response_panel(ax_resp, controllers, colours, str(report.get("scenario", {}).get("clock") or ""))
    _jitter_panel(ax_jit, controllers, colours)
    _cause_panel(ax_cause, plotdata.cause_bins(report, cycles_csv))
    robots = [c["robot"] for c in controllers]
    _robot_panel(ax_robot, plotdata.robot_bins(cycles_csv, robots, _duration(report)), colours)
    for i, kind in enumerate(kinds):
        of_kind = [s for s in sensors if s["kind"] == kind]
        cell = lower[i // AGES_PER_ROW][0, i % AGES_PER_ROW]
        _age_panel(fig.add_subplot(cell, gid=f"age:{kind}"), kind, of_kind, colours)
    if not kinds:
        _empty(fig.add_subplot(lower[0][0, 0]), "no sensors", "Age at use")
    _robot_legend(fig, controllers, colours)
    return fig


# ---------------------------------------------------------------------- text
def _title(report: dict[str, Any]) -> str:
    sc, s = report.get("scenario", {}), report.get("summary", {})
    clock = str(sc.get("clock") or "").removesuffix("Clock").lower()
    n = len(report.get("controllers", []))
    head = (f"Deadline-miss report: {sc.get('name', '?')}  (seed {sc.get('seed', '?')}, "
            f"{clock + ' clock, ' if clock else ''}{_duration(report):g} s simulated, {n} robot{'s' * (n != 1)})")
    if not s.get("cycles"):
        return f"{head}\nno controller cycle ran"
    return f"{head}\n{s['misses']} of {s['cycles']} cycles missed their deadline ({100 * s['miss_rate']:.2f} %)"


def _duration(report: dict[str, Any]) -> float:
    sc, run = report.get("scenario", {}), report.get("run", {})
    return float(sc.get("duration") or run.get("sim_seconds") or 1.0)


def _ms(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x * 1000:.3g}"


def _misses(n: int) -> str:
    return f"{n} miss" if n == 1 else f"{n} misses"


def _empty(ax: Any, text: str, title: str) -> None:
    ax.set_title(title, fontsize=10, loc="left")
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.35", fontsize=9,
            wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


# ---------------------------------------------------------------------- axes
def _ms_log_axis(ax: Any, lo_ms: float, hi_ms: float) -> None:
    """A log x axis in ms with plain-number labels, as many per decade as the panel's width leaves room for."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    width_in = ax.get_position().width * ax.figure.get_figwidth()
    base, subs = plotdata.log_ticks(lo_ms, hi_ms, width_in)
    ax.xaxis.set_major_locator(LogLocator(base=base, subs=subs))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=tuple(float(k) for k in range(1, 10))))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _share_axis(axis: Any, floor: float) -> None:
    """A log axis of shares, labelled in per cent (100 %, 10 %, 1 %, ...), one label a decade."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0,)))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(float(k) for k in range(2, 10))))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:g} %"))
    axis.set_minor_formatter(NullFormatter())
    axis.axes.set_ylim(floor, 1.6)


# ---------------------------------------------------------------------- CCDF panels
# robot (the line's gid, so a test can tell whose line it is), colour, CCDF, summary points, line style
Curve = tuple[str, str, Ccdf | None, tuple[list[float], list[float]], Any]


def _draw_curves(ax: Any, curves: list[Curve]) -> tuple[float, float, int, list[float]]:
    """Draw CCDF curves (grey robots under coloured ones); return x range (ms), largest n, below-1-µs shares."""
    lo, hi, n_max, below = math.inf, 0.0, 1, []
    for robot, colour, c, (px, py), style in sorted(curves, key=lambda cv: cv[1] != GREY):
        grey = colour == GREY
        kw = {"color": colour, "linewidth": 0.8 if grey else 1.8, "alpha": 0.7 if grey else 1.0,
              "zorder": 1 if grey else 3, "linestyle": style, "gid": robot}
        if c is not None and c.n:
            n_max = max(n_max, c.n)
            below.append(c.below_share)
            if c.x:
                x = np.asarray(c.x) * 1000
                ax.step(x, c.y, where="post", **kw)
                lo, hi = min(lo, float(x[0])), max(hi, float(x[-1]))
        elif px:
            x = np.asarray(px) * 1000
            ax.plot(x, py, marker="o", markersize=4, **kw)
            n_max = max(n_max, round(1 / min(py)))
            lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
    return lo, hi, n_max, below


def below_note(what: str, shares: list[float], per: str) -> str:
    """Say how many values sat under 1 µs (no place on a log axis), so a curve starting below 100 % is read right."""
    some = [x for x in shares if x > 0.0]
    if not some:
        return ""
    lo, hi = 100 * min(some), 100 * max(some)
    share = f"{lo:.3g} %" if math.isclose(lo, hi, rel_tol=0.005) else f"{lo:.3g}-{hi:.3g} %"
    which = ("" if len(shares) == 1 else f" (each of the {len(shares)} {per})" if len(some) == len(shares)
             else f" ({len(some)} of {len(shares)} {per})")
    return f"\n{share} of {what} < 1 µs,\nnot drawn{which}"


def _ccdf_axes(ax: Any, lo: float, hi: float, n_max: int, xlabel: str, ylabel: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log", nonpositive="clip")
    lo, hi = lo / 1.25, hi * 1.3
    ax.set_xlim(lo, hi)
    _ms_log_axis(ax, lo, hi)
    _share_axis(ax.yaxis, 0.5 / n_max)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.grid(True, which="major", color="0.88", linewidth=0.6)
    ax.tick_params(labelsize=8)


def _vlines(ax: Any, items: list[tuple[float, str]], tag: str) -> None:
    """Each robot's limit in its colour (interleaved dashes where robots share one), named above the axes.

    Call after the x limits are set: limits closer than a tenth of the axis share one label.
    """
    from matplotlib.transforms import blended_transform_factory

    top = blended_transform_factory(ax.transData, ax.transAxes)
    for line in plotdata.shared_lines(items):
        ax.axvline(line.value * 1000, color=line.colour, linestyle=line.dashes, linewidth=1.6, zorder=4,
                   gid=f"{tag} {line.value:g}")
    lo, hi = ax.get_xlim()
    for x, values in plotdata.label_groups([v * 1000 for v, _ in items], lo, hi):
        text = " / ".join(f"{v:.3g}" for v in values)
        ax.text(x, 1.01, f"{tag} {text} ms", transform=top, ha="center", va="bottom", fontsize=7, color="0.2")


def _response_panel(ax: Any, controllers: list[dict[str, Any]], colours: RobotColours, clock: str) -> None:
    title = "Response time: share of cycles slower than t"
    curves: list[Curve] = [(c["robot"], colours.of(c["robot"]), plotdata.distribution_ccdf(c.get("response_time")),
                            plotdata.summary_points(c.get("response_time")), "-") for c in controllers]
    lo, hi, n_max, below = _draw_curves(ax, curves)
    if hi <= 0.0:
        _empty(ax, "every response time under 1 µs (nothing to draw on a log axis)" + VIRTUAL_HINT.get(clock, "")
               if controllers else "no controller", title)
        return
    deadlines = [(float(c["deadline"]), colours.of(c["robot"])) for c in controllers if c.get("deadline")]
    hi = max([hi] + [d * 1000 for d, _ in deadlines])
    _ccdf_axes(ax, lo, hi, n_max, "t: response time = finish − release (ms, log)"
               + below_note("cycles", below, "robots"), "P[response > t]")
    _vlines(ax, deadlines, "D")
    ax.set_title(title + "   (dashed: each robot's deadline D)", fontsize=10, loc="left", pad=14)


def _jitter_panel(ax: Any, controllers: list[dict[str, Any]], colours: RobotColours) -> None:
    title = "Release jitter: share of cycles that started later than t"
    curves: list[Curve] = [(c["robot"], colours.of(c["robot"]), plotdata.distribution_ccdf(c.get("release_jitter")),
                            plotdata.summary_points(c.get("release_jitter")), "-") for c in controllers]
    lo, hi, n_max, below = _draw_curves(ax, curves)
    if hi <= 0.0:
        on_time = any((c.get("release_jitter") or {}).get("count") for c in controllers)
        _empty(ax, "every cycle started within 1 µs of its release (jitter 0)" if on_time
               else "no release jitter in this report", title)
        return
    _ccdf_axes(ax, lo, hi, n_max, "t: release jitter = start − release (ms, log)"
               + below_note("cycles", below, "robots"), "P[jitter > t]")
    ax.set_title(title, fontsize=10, loc="left")


def _age_panel(ax: Any, kind: str, sensors: list[dict[str, Any]], colours: RobotColours) -> None:
    title = f"Age at use: {kind}"
    names = sorted({s["name"] for s in sensors})
    style = {n: SENSOR_STYLES[i % len(SENSOR_STYLES)] for i, n in enumerate(names)}
    curves: list[Curve] = [(s["robot"], colours.of(s["robot"]),
                            plotdata.distribution_ccdf(s.get("age_at_use")),
                            plotdata.summary_points(s.get("age_at_use")), style[s["name"]]) for s in sensors]
    lo, hi, n_max, below = _draw_curves(ax, curves)
    if hi <= 0.0:
        used = any((s.get("age_at_use") or {}).get("count") for s in sensors)
        _empty(ax, "every use under 1 µs old" if used else "never used", title)
        return
    limits = [(float(s["max_age"]), colours.of(s["robot"])) for s in sensors if s.get("max_age")]
    hi = max([hi] + [a * 1000 for a, _ in limits])
    _ccdf_axes(ax, lo, hi, n_max, "t: age = use − sample (ms, log)" + below_note("uses", below, "sensors"),
               "P[age > t]")
    _vlines(ax, limits, "max")
    if len(names) > 1:
        title += "  (" + ", ".join(f"{n}: {_style_word(style[n])}" for n in names) + ")"
    ax.set_title(title, fontsize=10, loc="left", pad=14)


def _style_word(style: Any) -> str:
    return {"-": "solid", "-.": "dash-dot", ":": "dotted"}.get(style, "dashed") if isinstance(style, str) else "dashed"


# ---------------------------------------------------------------------- miss panels
def _cause_panel(ax: Any, bins: TimeBins) -> None:
    title = "Misses over time by cause (stacked)"
    if not bins.total:
        _empty(ax, "no deadline misses", title)
        return
    bottom = np.zeros(len(bins.edges) - 1)
    handles = []
    for cause, counts in sorted(bins.counts.items(), key=lambda kv: -int(kv[1].sum())):
        colour, hatch = CAUSE_STYLE.get(cause, ("0.8", ""))
        handles.append(ax.bar(bins.edges[:-1], counts, width=bins.width, bottom=bottom, align="edge", color=colour,
                              hatch=hatch, edgecolor="0.35", linewidth=0.4, label=f"{cause} ({int(counts.sum())})"))
        bottom += counts
    ax.set_xlim(bins.edges[0], bins.edges[-1])
    ax.set_ylim(0, max(1.0, float(bottom.max())) * 1.05)
    ax.set_xlabel("release time (s, simulated)", fontsize=9)
    ax.set_ylabel(f"misses per {plotdata.seconds_label(bins.width)} bin", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=4, fontsize=8, frameon=False,
              borderaxespad=0.2, handlelength=1.6, columnspacing=1.2)
    ax.set_title(title, fontsize=10, loc="left", pad=22)


def _robot_panel(ax: Any, bins: TimeBins, colours: RobotColours) -> None:
    title = "Misses so far, stacked by robot"
    if not bins.total:
        _empty(ax, "no deadline misses", title)
        return
    x = bins.edges
    bottom = np.zeros(len(x))
    for robot, counts in plotdata.robot_bands(bins, colours):
        top = bottom + np.concatenate([[0], np.cumsum(counts)])
        colour = colours.of(robot) if robot in colours.colours else GREY
        ax.fill_between(x, bottom, top, step="post", color=colour, alpha=0.85, linewidth=0.0, gid=robot)
        ax.step(x, top, where="post", color="white", linewidth=0.6)
        bottom = top
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(0, max(1.0, float(bottom.max())) * 1.05)
    ax.set_xlabel(f"release time (s, simulated; {plotdata.seconds_label(bins.width)} bins)", fontsize=9)
    ax.set_ylabel("misses so far (fleet)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title(title, fontsize=10, loc="left")


# ---------------------------------------------------------------------- legend
def _robot_legend(fig: Any, controllers: list[dict[str, Any]], colours: RobotColours) -> None:
    """The robots, their colour and figures, in the column right of every panel; then the line styles."""
    from matplotlib.lines import Line2D

    by_robot = {c["robot"]: c for c in controllers}
    handles, labels = [], []
    for robot in colours.shown:
        c = by_robot[robot]
        handles.append(Line2D([], [], color=colours.of(robot), linewidth=2.2))
        rate, p99 = 100 * float(c.get("miss_rate") or 0), (c.get("response_time") or {}).get("p99")
        labels.append(f"{robot}: {_misses(int(c.get('misses') or 0))}\n  ({rate:.2f} %), p99 {_ms(p99)} ms")
    if colours.greyed:
        misses = sum(int(by_robot[r].get("misses") or 0) for r in colours.greyed)
        handles.append(Line2D([], [], color=GREY, linewidth=1.2))
        labels.append(f"{len(colours.greyed)} other robots\n  (grey): {_misses(misses)}")
    handles += [Line2D([], [], color="0.2", linestyle=(0, (5, 3)), linewidth=1.6)]
    labels += ["robot's deadline D /\n  sensor's max_age\n  (dashes in its colour)"]
    header = ("robots (every panel)" if not colours.greyed else
              f"robots: {len(colours.shown)} worst\n(most misses, then p99)")
    top = 1 - PANELS_TOP_IN / fig.get_figheight()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(LEGEND_X, top), fontsize=8, title=header,
               title_fontsize=9, frameon=False, alignment="left", labelspacing=0.9, handlelength=1.8)
