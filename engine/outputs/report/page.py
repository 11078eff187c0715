"""``engine report``: one self-contained HTML page of charts for a run, and the same charts as PNG
and SVG for papers.

Library choice: Altair (Vega-Lite) with vl-convert. One declarative chart object serves three
uses: a notebook shows it inline, the HTML page embeds it interactively (tooltips, export menu),
and vl-convert renders it to PNG and SVG without a browser. vl-convert also bundles the Vega,
Vega-Lite and vega-embed JavaScript into one script that is inlined in the page, so the report
opens offline: no server, no CDN, no web fonts (system fonts only).
"""

import datetime as dt
import html
import importlib
import json
import os
import re
import uuid
from pathlib import Path

from engine.config import PARTIAL_CLOSURES
from engine.errors import InputError
from engine.outputs.attribution import (MIN_DRAWS, TARGET_HALFWIDTH, UNEXPLAINED, band_error, input_groups,
                                        shapley_effects)
from engine.outputs.backtest import read_backtest
from engine.outputs.report.data import ScenarioData, scenario_differences
from engine.outputs.summary import focus_pair

#: PNG pixels per chart pixel (about 144 dpi at the chart's nominal 72 dpi).
PNG_SCALE = 2.0
_EMBED_OPTIONS = {"actions": {"export": True, "source": False, "compiled": False, "editor": False},
                  "renderer": "svg"}


def _charts_module():
    try:
        return importlib.import_module("engine.outputs.report.charts")
    except ImportError as exc:  # altair is in the optional 'report' extra
        raise ImportError(f"engine report needs the report extra ({exc.name or exc} is missing): "
                          "pip install 'tradeflow-engine[report]'") from None


def vega_bundle():
    """The Vega, Vega-Lite and vega-embed JavaScript as one script (vl-convert bundles it, which
    takes seconds; the result is kept in the user's cache folder per vl-convert version)."""
    import vl_convert

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tradeflow-engine"
    path = cache / f"vega-embed-bundle-vl-convert-{vl_convert.__version__}.js"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle = vl_convert.javascript_bundle()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        tmp.write_text(bundle, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a read-only home: bundle every time
        pass
    return bundle


class Report:
    """The charts of a run, grouped in sections, with the facts a reader needs.

    Attributes
    ----------
    charts : dict
        Name -> ``altair`` chart (``SCENARIO.fan``, ``SCENARIO.attribution``, ..., ``differences``);
        a notebook shows each inline.
    sections : list of dict
        ``title``, ``paragraphs`` (HTML strings) and ``items`` (chart name and caption) in page order.
    notes : list of str
        Charts left out and why (an optional column or table the run does not have).
    tables : dict
        Chart name -> HTML table shown under it (the attribution's numbers).
    """

    def __init__(self, result):
        charts = _charts_module()
        self.result = result
        self.charts, self.sections, self.notes, self.tables = {}, [], [], {}
        for record in result.manifest["scenarios"]:
            self._scenario_section(charts, ScenarioData(result, record))
        exporter, importer = focus_pair(result.manifest["scenarios"][0], result.manifest["calibration"]["regions"])
        self._backtest_section(charts)
        differences = scenario_differences(result, exporter, importer)
        if differences is not None:
            self.charts["differences"] = charts.differences_chart(differences, exporter, importer)
            self.sections.append({"title": "Scenarios compared", "paragraphs": [], "items": [
                ("differences", "Exports of the focus pair in each scenario minus the first, draw by draw, in "
                                "the months both cover. "
                                "Because every scenario uses the same firms, shocks and uncertain inputs in a "
                                "draw, the band holds the policy difference, not Monte Carlo noise.")]})

    def _backtest_section(self, charts):
        """Written by ``engine backtest`` into the run folder: the monthly chart and the windows' table."""
        written = read_backtest(self.result.path)
        if written is None:
            self.notes.append("no comparison with realized trade (run engine backtest RUN --realized FILE)")
            return
        windows, monthly, meta = written
        what = ("percent change on the same month a year earlier" if meta["year_on_year"]
                else "percent change from the base")
        self.charts["backtest"] = charts.backtest_chart(monthly, what)
        self.tables["backtest"] = _backtest_table(windows)
        self.sections.append({"title": "Against realized trade", "paragraphs": [html.escape(meta["comparison"])]
                              + [f"Note: {html.escape(n)}" for n in meta["notes"]],
                              "items": [("backtest", "Written by engine backtest (RUN/backtest/); the table "
                                                     "gives every window.")]})

    def _add(self, items, name, chart, caption):
        self.charts[name] = chart
        items.append((name, caption))

    def _scenario_section(self, charts, data):
        name, ex, im = data.name, data.exporter, data.importer
        items, paragraphs = [], []
        dates = data.totals["date"]
        base_label, last_label = dates.min().strftime("%b %Y"), dates.max().strftime("%b %Y")
        self._add(items, f"{name}.calendar", charts.calendar_chart(data.calendar(), ex, im),
                  "Tariff in force on each branch path sampled in this run (the first draw on the path).")
        self._add(items, f"{name}.fan", charts.fan_chart(data.fans(), ex, im),
                  "Across all draws: parameters, branch paths, exchange rates and firm populations all vary.")
        if data.draws["path"].n_unique() > 1:
            self._add(items, f"{name}.fan_by_path", charts.fan_by_path_chart(data.fans(by_path=True), ex, im),
                      "The same measures on each negotiation branch path (number of draws in the legend).")
        margins = data.margins()
        if margins is not None:
            self._add(items, f"{name}.margins", charts.margins_chart(margins, ex, im),
                      "Bars add up to the line exactly (the flows table's intensive, extensive and "
                      "stock_change columns).")
        else:
            self.notes.append(f"{name}: no margins chart (the flows table has no exports_intensive/extensive)")
        prices = data.price_volume()
        if prices is not None:
            self._add(items, f"{name}.price_volume", charts.price_volume_chart(prices, ex, im),
                      "Volume at baseline unit values; price is the implicit deflator (exports over volume).")
        else:
            self.notes.append(f"{name}: no price vs volume chart (the flows table has no unit value or quantity "
                              "column in this run)")
        suppliers = data.suppliers()
        if suppliers is not None:
            caption = ("Diversion: every supplier's exports to the importer, including its own producers. In pe "
                       "every price index is fixed, so a tariff on one supplier moves no other (--closure pe_moving "
                       "or ge solve them; docs/model.md section 6.5)." if data.record.get("closure") == "pe" else
                       "Diversion: every supplier's exports to the importer, including its own producers; a "
                       "tariff on some suppliers moves sales towards the others and towards domestic goods.")
            self._add(items, f"{name}.suppliers", charts.suppliers_chart(suppliers, im, last_label), caption)
        if data.record.get("closure") in PARTIAL_CLOSURES:
            # pe holds wages and leaves profits out of income: its real income is not welfare
            self._add(items, f"{name}.regions", charts.regions_chart(data.region_bands(), last_label),
                      "PE closure: real income here is accounting with wages fixed in local currency and profits "
                      "left out of income (exchange rates move it, foreign tariffs barely do), not welfare; the "
                      "price index and tariff revenue are meaningful. Welfare: run with --closure ge.")
            self.notes.append(f"{name}: no welfare decomposition in the {data.record['closure']} closure (--closure ge "
                              "measures welfare)")
        else:
            caption = ("Welfare is the policy effect on real income: against each draw's no-policy path "
                       "(regions.real_income_effect_pct)."
                       if data.record.get("closure", "ge") == "ge" else
                       "ge_fixed_wage: real income with wages pinned by the outside good and profits left out of "
                       "income (exchange rates move it, foreign tariffs barely do); --closure ge measures welfare.")
            self._add(items, f"{name}.regions", charts.regions_chart(data.region_bands(), last_label), caption)
            decomposition = data.welfare_decomposition()
            if decomposition is not None:
                self._add(items, f"{name}.welfare_decomposition",
                          charts.welfare_decomposition_chart(decomposition, last_label),
                          "Components of the real income change as the regions table reports them.")
            else:
                self.notes.append(f"{name}: no welfare decomposition (the regions table has no welfare_* columns)")

        headline = data.headline()
        y = headline["change_pct"].to_numpy()
        outcome = data.headline_outcome(base_label, last_label)
        inputs = input_groups(data.draws)
        shapley = shapley_effects(y, inputs)
        error = band_error(y, inputs, self.result.manifest["firms_per_block"])
        q = {row["q"]: row for row in error["quantiles"]}
        paragraphs.append(
            f"<b>Headline:</b> {html.escape(outcome)}: median {q[0.5]['value']:+.1f}%, 5-95 % band "
            f"[{q[0.05]['value']:+.1f}%, {q[0.95]['value']:+.1f}%] across {error['draws']} draws.")
        if shapley is None:
            self.notes.append(f"{name}: no variance attribution (no sampled inputs or no spread across draws)")
        elif not shapley["enough"]:
            paragraphs.append(_too_few_text(shapley))
            self.notes.append(f"{name}: no variance attribution chart (too few draws: {shapley['draws']}; about "
                              f"{shapley['needed']:,} needed)")
        else:
            self._add(items, f"{name}.attribution", charts.attribution_chart(shapley, outcome),
                      "Method: Shapley effects (Owen 2014; Song, Nelson and Staum 2016) of the sampled inputs, "
                      "estimated from the run's own draws: Var(E[Y|X_S]) for every set S of inputs by nearest "
                      "neighbours in rank space, extrapolated to zero distance; each input gets its average "
                      "contribution over the orders of adding inputs, so interactions are shared and the "
                      "effects plus the unexplained share add to 100 %. Error bars: 90 % intervals from "
                      f"a bootstrap over draws ({shapley['replicates']} resamples, fixed seed). Inputs sampled "
                      "as one value are one input.")
            self.tables[f"{name}.attribution"] = _attribution_table(shapley)
        if len(y) >= 4:
            self._add(items, f"{name}.band_error", charts.band_error_chart(error["quantiles"],
                                                                           data.band_error_by_month(), outcome),
                      "Bootstrap over draws (1,000 resamples, fixed seed); the error falls as 1/sqrt(draws).")
            paragraphs.append(_error_text(error))
        else:
            self.notes.append(f"{name}: no Monte Carlo error of the bands (fewer than 4 draws)")
        deciles = data.firm_deciles()
        if deciles is not None:
            self._add(items, f"{name}.firm_deciles", charts.firm_deciles_chart(deciles, ex, im, last_label),
                      "Deciles of baseline sales in all markets within each sector and draw.")
        else:
            self.notes.append(f"{name}: no firm deciles (run engine simulate with --firm-output sample)")
        record = data.record
        title = f"{name}: {record['title']}" if record.get("title") else name
        self.sections.append({"title": title, "paragraphs": paragraphs, "items": items, "record": record,
                              "focus": (ex, im)})

    # --- output --------------------------------------------------------------------------------
    def specs(self):
        """Name -> Vega-Lite spec (dict) of every chart, data inlined."""
        return {name: chart.to_dict() for name, chart in self.charts.items()}

    def to_html(self):
        """The whole report as one HTML string (scripts inlined, no external resources)."""
        return _page(self, self.specs(), vega_bundle())

    def save(self, path):
        """Write the HTML page (through a temporary file, so a failure leaves no half page)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = self.to_html()
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def save_figures(self, folder, scale=PNG_SCALE):
        """Write every chart as ``NAME.svg`` and ``NAME.png`` and an index ``figures.json``.

        Returns
        -------
        list of dict
            ``name``, ``svg``, ``png``, ``width`` and ``height`` (SVG size, CSS pixels) and
            ``png_width``/``png_height`` (``scale`` times those, rounded).
        """
        import vl_convert

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        index = []
        for name, spec in self.specs().items():
            stem = re.sub(r"[^A-Za-z0-9_.-]", "_", name).replace(".", "-")
            svg = vl_convert.vegalite_to_svg(spec)
            width, height = (float(v) for v in re.search(r'<svg[^>]*?width="([\d.]+)"[^>]*?height="([\d.]+)"',
                                                         svg).groups())
            (folder / f"{stem}.svg").write_text(svg, encoding="utf-8")
            (folder / f"{stem}.png").write_bytes(vl_convert.svg_to_png(svg, scale=scale))  # same drawing
            index.append({"name": name, "svg": f"{stem}.svg", "png": f"{stem}.png", "width": width, "height": height,
                          "png_width": round(width * scale), "png_height": round(height * scale)})
        (folder / "figures.json").write_text(json.dumps(index, indent=2) + "\n")
        return index

    def __repr__(self):
        return f"Report({str(self.result.path)!r}, charts={list(self.charts)})"


def _too_few_text(shapley):
    """The plain message shown instead of attribution numbers that the draws cannot support."""
    n, k = shapley["draws"], shapley["inputs"]
    inputs = f"{k} sampled input{'s' if k > 1 else ''}"
    if not shapley["rows"]:
        return (f"<b>What drives the spread:</b> too few draws to say. Attributing the spread to the {inputs} "
                f"needs at least {MIN_DRAWS} draws to estimate at all (this run has {n}), and usually a few "
                f"hundred to pin each input's share within ±{100 * TARGET_HALFWIDTH:.0f} percentage points; "
                "rerun with more --draws.")
    return (f"<b>What drives the spread:</b> too few draws to say. With {n} draws the shares of the {inputs} "
            f"are known only to ±{100 * shapley['halfwidth']:.0f} percentage points (90 % bootstrap interval of "
            f"the least precise); about {shapley['needed']:,} draws would pin every share within "
            f"±{100 * TARGET_HALFWIDTH:.0f} points (the error falls as 1/sqrt(draws)). Rerun with --draws "
            f"{shapley['needed']} or more.")


def _attribution_table(shapley):
    """The Shapley effects with their intervals, and the unexplained share, as an HTML table."""
    rows = [(r["input"], r["effect"], r["lo"], r["hi"]) for r in shapley["rows"]]
    rows.append((UNEXPLAINED, shapley["unexplained"], shapley["unexplained_lo"], shapley["unexplained_hi"]))
    body = "".join(f"<tr><td>{html.escape(label)}</td><td>{100 * e:.1f} %</td>"
                   f"<td>[{100 * lo:.1f}, {100 * hi:.1f}]</td></tr>" for label, e, lo, hi in rows)
    return ('<table class="facts attribution"><tr><td>input</td><td>Shapley effect</td><td>90 % interval</td></tr>'
            f"{body}<tr><td>total</td><td>100.0 %</td><td></td></tr></table>")


def _backtest_table(windows):
    """The backtest's windows as an HTML table."""
    body = "".join(
        f"<tr><td>{html.escape(r['origin'])} -&gt; {html.escape(r['destination'])}, {html.escape(r['sector'])}</td>"
        f"<td>{html.escape(r['window'])}</td><td>{r['engine_mean_pct']:+.1f} [{r['engine_p5_pct']:+.1f}, "
        f"{r['engine_p95_pct']:+.1f}]</td><td>{r['realized_pct']:+.1f}</td><td>{r['error_pp']:+.1f}</td>"
        f"<td>{'yes' if r['in_band'] else 'no'}</td></tr>" for r in windows.iter_rows(named=True))
    return ('<table class="facts backtest"><tr><td>series</td><td>window</td><td>engine % [5-95 %]</td>'
            f"<td>realized %</td><td>error, pp</td><td>in band</td></tr>{body}</table>")


def _error_text(error):
    q = {row["q"]: row for row in error["quantiles"]}
    text = (f"<b>Precision:</b> with {error['draws']} draws the 5 % and 95 % quantiles of the headline have "
            f"bootstrap standard errors of {q[0.05]['se']:.1f} and {q[0.95]['se']:.1f} percentage points "
            f"(four times the draws would halve them). ")
    if error["firm_share"] is None:
        return text + ("Too few draws to separate finite-firm noise from the sampled inputs (a regression "
                       "needs at least 3 more draws than regressors).")
    return text + (f"Finite-firm noise is at most {_pct(error['firm_share'])} of the variance across draws "
                   f"(what the sampled inputs leave unexplained); it falls as 1/firms, so four times the "
                   f"{error['firms']:,} firms per origin-sector would narrow the band by at most "
                   f"{_pct(error['narrowing_4x_firms'])}.")


def _pct(share):
    percent = 100 * share
    return f"{percent:.0f} %" if percent >= 9.5 else f"{percent:.1f} %" if percent >= 0.05 else "0.0 %"


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif;
       margin: 0 auto; max-width: 1060px; padding: 24px; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 2em; }
table.facts { border-collapse: collapse; font-size: 0.9em; }
table.facts td { padding: 2px 12px 2px 0; vertical-align: top; } table.facts td:first-child { color: #666; }
pre { background: #f6f6f6; padding: 10px; overflow-x: auto; font-size: 0.85em; max-height: 420px; }
.chart { margin: 18px 0 4px 0; } .caption { color: #555; font-size: 0.9em; margin: 0 0 18px 0; }
.notes { color: #666; font-size: 0.9em; } code { background: #f2f2f2; padding: 0 3px; }
"""


def _facts(result):
    m = result.manifest
    closures = ", ".join(f"{s['name']}: {s['closure'].upper()}" for s in m["scenarios"])
    rows = [("created", m.get("created")), ("command", m.get("command")), ("engine", m.get("engine_version")),
            ("git revision", m.get("git_revision")), ("seed", m.get("seed")),
            ("draws", m.get("draws")), ("simulated firms", f"{m.get('firms_per_block'):,} per origin-sector"),
            ("closure", closures), ("calibration", m["calibration"].get("source")),
            ("regions", ", ".join(m["calibration"].get("regions", []))),
            ("run time", f"{m.get('timings', {}).get('total_s', float('nan')):.1f} s"),
            ("run folder", str(result.path))]
    return "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows if v)


def _json_script(value):
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def _page(report, specs, bundle):
    result = report.result
    names = ", ".join(s["name"] for s in result.manifest["scenarios"])
    parts = [f"<h1>Run report: {html.escape(names)}</h1>",
             f"<p>Written {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by <code>engine report</code>. "
             "Bands are quantiles across Monte Carlo draws; USD values are annual rates at customs value. "
             "Hover a chart for values; the ... menu saves it as PNG or SVG.</p>",
             f'<table class="facts">{_facts(result)}</table>']
    number = 0
    for section in report.sections:
        parts.append(f"<h2>{html.escape(section['title'])}</h2>")
        record = section.get("record")
        if record:
            ex, im = section["focus"]
            parts.append(f"<p>Focus pair: exports of <b>{html.escape(ex)}</b> to <b>{html.escape(im)}</b>; "
                         f"{record['periods']} monthly periods from {html.escape(str(record['start']))}, "
                         f"{record['closure'].upper()} closure.</p>")
            if record.get("text"):
                parts.append(f"<details><summary>Scenario file ({html.escape(str(record.get('source', '')))})"
                             f"</summary><pre>{html.escape(record['text'])}</pre></details>")
        parts += [f"<p>{p}</p>" for p in section["paragraphs"]]
        for name, caption in section["items"]:
            number += 1
            parts.append(f'<div class="chart" id="chart-{number}" data-chart="{html.escape(name)}"></div>'
                         f'<script type="application/json" class="vega-spec" data-target="chart-{number}" '
                         f'data-chart="{html.escape(name)}">{_json_script(specs[name])}</script>'
                         f'<p class="caption">Figure {number} ({html.escape(name)}). {html.escape(caption)}</p>'
                         + report.tables.get(name, ""))
    if report.notes:
        parts.append("<h2>Not shown</h2><ul class=\"notes\">"
                     + "".join(f"<li>{html.escape(n)}</li>" for n in report.notes) + "</ul>")
    script = ("document.querySelectorAll('script.vega-spec').forEach(function (el) {"
              "vegaEmbed('#' + el.dataset.target, JSON.parse(el.textContent), "
              f"{_json_script(_EMBED_OPTIONS)}).catch(function (e) {{"
              "var div = document.getElementById(el.dataset.target); div.className += ' chart-failed';"
              "div.textContent = 'This chart could not be drawn: ' + e; });});")
    bundle = bundle.replace("</script", "<\\/script")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Run report: {html.escape(names)}</title><style>{_CSS}</style>"
            f"<script>{bundle}</script></head><body>"
            + "\n".join(parts) + f"<script>{script}</script></body></html>\n")


def build_report(result, out=None, figures=None, scale=PNG_SCALE):
    """Build the report of a run; write the HTML page and, optionally, the figures.

    Parameters
    ----------
    result : engine.runs.result.SimulationResult
        A finished run (``engine.runs.folder.open_run`` opens a run folder).
    out : str or Path, optional
        HTML file to write; none when ``None``.
    figures : str or Path, optional
        Folder for PNG and SVG files of every chart.
    scale : float
        PNG pixels per chart pixel.

    Returns
    -------
    Report
    """
    if figures is not None and Path(figures).exists() and not Path(figures).is_dir():
        raise InputError(figures, "exists and is not a folder; choose another --figures")
    report = Report(result)
    if out is not None:
        report.save(out)
    if figures is not None:
        report.save_figures(figures, scale=scale)
    return report
