"""Charts of the report as Altair (Vega-Lite) objects: a notebook shows them inline, the report
embeds them in one HTML page, and vl-convert writes them as PNG and SVG.

Each function takes a frame from ``engine.outputs.report.data`` and returns an ``altair`` chart. Months are
UTC dates (so no browser shows January as 31 December); USD are billions per year.
"""

import altair as alt
import polars as pl

from engine.outputs.attribution import UNEXPLAINED

#: Width of a full-width chart, pixels (the page is about 1000 px wide).
WIDTH = 760
_BAND = "#4c78a8"


def _dates(frame):
    return frame.with_columns(pl.col("date").dt.strftime("%Y-%m-%d")) if "date" in frame.columns else frame


def _month_axis(title="Month"):
    return alt.X("date:T", title=title, scale=alt.Scale(type="utc"), axis=alt.Axis(format="%b %Y", labelAngle=0,
                                                                                    tickCount=8))


def _order(frame, column):
    return frame[column].unique(maintain_order=True).to_list()


def _fan_layers(y_title, color=None, tooltip_extra=()):
    base = alt.Chart()
    color_enc = {"color": color} if color is not None else {}
    outer = base.mark_area(opacity=0.18 if color is not None else 0.25, **({} if color is not None else
                                                                        {"color": _BAND})).encode(
        _month_axis(), alt.Y("p5:Q", title=y_title), alt.Y2("p95:Q"), **color_enc)
    layers = [outer]
    if color is None:
        layers.append(base.mark_area(opacity=0.45, color=_BAND).encode(_month_axis(), alt.Y("p25:Q"), alt.Y2("p75:Q")))
    tooltip = [alt.Tooltip("date:T", title="month", format="%b %Y", formatType="utc"),
               *tooltip_extra,
               alt.Tooltip("p50:Q", title="median", format=",.1f"),
               alt.Tooltip("p5:Q", title="5 %", format=",.1f"), alt.Tooltip("p95:Q", title="95 %", format=",.1f"),
               alt.Tooltip("draws:Q", title="draws")]
    layers.append(base.mark_line(strokeWidth=2, **({} if color is not None else {"color": "#1f3b63"})).encode(
        _month_axis(), alt.Y("p50:Q"), tooltip=tooltip, **color_enc))
    return layers


def calendar_chart(frame, exporter, importer):
    """Tariff in force by month and sector, one line per branch path."""
    return alt.Chart(_dates(frame)).mark_line(interpolate="step-after", strokeWidth=2).encode(
        _month_axis(""),
        alt.Y("tariff_pct:Q", title="tariff, %"),
        alt.Color("path_label:N", title="branch path", legend=alt.Legend(orient="bottom", columns=1, labelLimit=600)),
        alt.StrokeDash("path_label:N", legend=None),
        tooltip=[alt.Tooltip("path:N", title="path"), alt.Tooltip("sector:N"),
                 alt.Tooltip("date:T", title="month", format="%b %Y", formatType="utc"),
                 alt.Tooltip("tariff_pct:Q", title="tariff, %", format=".2f")],
    ).properties(width=170, height=120).facet(
        facet=alt.Facet("sector:N", title=None, header=alt.Header(labelFontWeight="bold")), columns=4,
    ).properties(title=f"Tariff of {importer} on {exporter} in force by sector and month (day-weighted, percent)")


def fan_chart(frame, exporter, importer):
    """Median, 25-75 % and 5-95 % bands across draws of the pair's exports, exporters, entries
    and exits by month."""
    return alt.layer(*_fan_layers(None), data=_dates(frame)).properties(width=340, height=170).facet(
        facet=alt.Facet("measure:N", title=None, sort=_order(frame, "measure"),
                        header=alt.Header(labelFontWeight="bold", labelFontSize=12)),
        columns=2,
    ).resolve_scale(y="independent").properties(
        title=alt.TitleParams(f"{exporter} to {importer} by month: median, 25-75 % (dark) and 5-95 % (light) "
                              "bands across draws",
                              subtitle="exports at customs value, annual rate; firms are real firms"))


def fan_by_path_chart(frame, exporter, importer):
    """The fan chart split by branch path (median line and 5-95 % band per path)."""
    color = alt.Color("path_label:N", title="branch path", legend=alt.Legend(orient="bottom", columns=1,
                                                                             labelLimit=600))
    return alt.layer(*_fan_layers(None, color, (alt.Tooltip("path:N", title="path"),)),
                     data=_dates(frame)).properties(width=340, height=170).facet(
        facet=alt.Facet("measure:N", title=None, sort=_order(frame, "measure"),
                        header=alt.Header(labelFontWeight="bold", labelFontSize=12)),
        columns=2,
    ).resolve_scale(y="independent").properties(
        title=f"{exporter} to {importer} by branch path: median and 5-95 % band across the draws on each path")


def margins_chart(frame, exporter, importer):
    """Intensive and extensive margins of the change in exports (mean across draws)."""
    data = _dates(frame)
    parts = alt.Chart(data).transform_filter(alt.datum.component != "total change").mark_bar(
        opacity=0.85, size=12).encode(
        _month_axis(),
        alt.Y("usd_bn:Q", title="change against the baseline, USD bn per year", stack="zero"),
        alt.Color("component:N", title=None, scale=alt.Scale(
            domain=["intensive margin", "extensive margin", "importers' stocks", "total change"],
            range=["#4c78a8", "#f58518", "#54a24b", "#222222"]),
            legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("date:T", title="month", format="%b %Y", formatType="utc"), "component:N",
                 alt.Tooltip("usd_bn:Q", title="USD bn", format=",.2f")])
    total = alt.Chart(data).transform_filter(alt.datum.component == "total change").mark_line(
        point=True, strokeWidth=2).encode(_month_axis(), alt.Y("usd_bn:Q"), alt.Color("component:N"),
                                          tooltip=[alt.Tooltip("usd_bn:Q", title="total, USD bn", format=",.2f")])
    return alt.layer(parts, total).properties(
        width=WIDTH, height=220,
        title=alt.TitleParams(f"{exporter} to {importer}: change in exports through each margin (mean across draws)",
                              subtitle="intensive: firms selling in both months; extensive: entry and exit; "
                                       "importers' stocks: customs imports minus final sales"))


def price_volume_chart(frame, exporter, importer):
    """Export price and volume indices (median and 5-95 % band across draws)."""
    color = alt.Color("component:N", title=None, legend=alt.Legend(orient="bottom"))
    return alt.layer(*_fan_layers("index, baseline = 1", color, (alt.Tooltip("component:N"),)),
                     data=_dates(frame)).properties(
        width=WIDTH, height=220,
        title=f"{exporter} to {importer}: export prices and volumes (median, 5-95 % band across draws)")


def regions_chart(frame, last_label):
    """Welfare, price index change and tariff revenue by region: 5-95 % (line), 25-75 % (bar),
    median (tick) across draws."""
    base = alt.Chart()
    y = alt.Y("region:N", title=None, sort=alt.EncodingSortField("p50", order="descending"))
    tooltip = ["region:N", alt.Tooltip("p50:Q", title="median", format=",.3f"),
               alt.Tooltip("p5:Q", title="5 %", format=",.3f"), alt.Tooltip("p95:Q", title="95 %", format=",.3f")]
    layers = alt.layer(
        base.mark_rule(color="#7a7a7a").encode(alt.X("p5:Q", title=None), alt.X2("p95:Q"), y),
        base.mark_bar(height=10, color=_BAND, opacity=0.6).encode(alt.X("p25:Q"), alt.X2("p75:Q"), y),
        base.mark_tick(color="#1f3b63", thickness=2, size=16).encode(alt.X("p50:Q"), y, tooltip=tooltip),
        data=frame)
    return layers.properties(width=230, height=220).facet(
        facet=alt.Facet("measure:N", title=None, sort=_order(frame, "measure"),
                        header=alt.Header(labelFontWeight="bold")), columns=3,
    ).resolve_scale(x="independent", y="independent").properties(
        title=alt.TitleParams(f"Regions in {last_label}, across draws",
                              subtitle="line 5-95 %, bar 25-75 %, tick median; real income and price index: "
                                       "policy effects against each draw's no-policy path; tariff revenue: level"))


def suppliers_chart(frame, importer, last_label):
    """Policy effect on each supplier's exports to the importer: 5-95 % (line), 25-75 % (bar),
    median (tick) across draws."""
    base = alt.Chart()
    y = alt.Y("supplier:N", title=None, sort=alt.EncodingSortField("p50", order="ascending"))
    x = alt.X("p5:Q", title=f"policy effect on exports to {importer}, %")
    tooltip = ["supplier:N", alt.Tooltip("p50:Q", title="median", format="+.2f"),
               alt.Tooltip("p5:Q", title="5 %", format="+.2f"), alt.Tooltip("p95:Q", title="95 %", format="+.2f")]
    return alt.layer(
        base.mark_rule(color="#7a7a7a").encode(x, alt.X2("p95:Q"), y),
        base.mark_bar(height=10, color=_BAND, opacity=0.6).encode(alt.X("p25:Q"), alt.X2("p75:Q"), y),
        base.mark_tick(color="#1f3b63", thickness=2, size=16).encode(alt.X("p50:Q"), y, tooltip=tooltip),
        data=frame).properties(width=WIDTH, height=220, title=alt.TitleParams(
            f"Suppliers of {importer} in {last_label}: who loses and who gains",
            subtitle="policy effect against each draw's no-policy path; line 5-95 %, bar 25-75 %, tick median"))


def welfare_decomposition_chart(frame, last_label):
    """Components of the real income change by region (mean across draws)."""
    return alt.Chart(frame).mark_bar().encode(
        alt.X("percent:Q", title="contribution to the real income change, percent"),
        alt.Y("region:N", title=None),
        alt.Color("component:N", title=None, legend=alt.Legend(orient="bottom", columns=1, labelLimit=600)),
        tooltip=["region:N", "component:N", alt.Tooltip("percent:Q", format="+.3f")],
    ).properties(width=WIDTH, height=240, title=f"Welfare decomposition by region in {last_label} (mean across draws)")


def attribution_chart(shapley, outcome):
    """Shapley effects of the sampled inputs on the headline outcome with 90 % bootstrap
    intervals, and the share left unexplained (one bar each; the bars add up to 100 %).

    Parameters
    ----------
    shapley : dict
        From ``engine.outputs.attribution.shapley_effects`` (with ``rows``).
    outcome : str
    """
    rows = [{"input": r["input"], "effect": r["effect"], "lo": r["lo"], "hi": r["hi"], "kind": "sampled input"}
            for r in shapley["rows"]]
    rows.append({"input": UNEXPLAINED, "effect": shapley["unexplained"], "lo": shapley["unexplained_lo"],
                 "hi": shapley["unexplained_hi"], "kind": "unexplained"})
    data = pl.DataFrame(rows).with_columns((pl.col(c) * 100).alias(c) for c in ("effect", "lo", "hi"))
    order = data["input"].to_list()
    domain = [min(0.0, float(data["lo"].min())), max(100.0, float(data["hi"].max()))]
    y = alt.Y("input:N", title=None, sort=order, axis=alt.Axis(labelLimit=360))
    tooltip = ["input:N", alt.Tooltip("effect:Q", title="share of the variance, %", format=".1f"),
               alt.Tooltip("lo:Q", title="90 % interval from, %", format=".1f"),
               alt.Tooltip("hi:Q", title="90 % interval to, %", format=".1f")]
    bars = alt.Chart(data).mark_bar().encode(
        alt.X("effect:Q", title="share of the variance across draws (Shapley effect), %",
              scale=alt.Scale(domain=domain)), y,
        alt.Color("kind:N", scale=alt.Scale(domain=["sampled input", "unexplained"], range=[_BAND, "#bbbbbb"]),
                  legend=None),
        tooltip=tooltip)
    error = alt.Chart(data).mark_errorbar(ticks=True, color="#222222").encode(
        alt.X("lo:Q", title=None, scale=alt.Scale(domain=domain)), alt.X2("hi:Q"), y, tooltip=tooltip)
    text = alt.Chart(data).mark_text(align="left", dx=4, dy=-8, fontSize=10).encode(
        alt.X("hi:Q", scale=alt.Scale(domain=domain)), y, text=alt.Text("effect:Q", format=".0f"))
    return alt.layer(bars, error, text).properties(
        width=WIDTH - 300, height=max(60, 28 * len(rows)),
        title=alt.TitleParams(f"What drives the spread of {outcome}",
                              subtitle=[("Shapley effects of the sampled inputs from the run's draws; interactions "
                                         "are shared, so the bars add up to 100 %"),
                                        f"error bars: 90 % bootstrap intervals over the {shapley['draws']} draws"]))


def band_error_chart(quantiles, by_month, outcome):
    """Monte Carlo error of the band: quantiles of the headline with +-1.96 bootstrap SE, and the
    SE of the exports band by month."""
    q = pl.DataFrame(quantiles).with_columns(
        pl.format("{} %", (pl.col("q") * 100).round(0).cast(pl.Int32)).alias("quantile"),
        (pl.col("value") - 1.96 * pl.col("se")).alias("lo"), (pl.col("value") + 1.96 * pl.col("se")).alias("hi"))
    order = q["quantile"].to_list()
    y = alt.Y("quantile:N", title="quantile across draws", sort=order)
    left = alt.layer(
        alt.Chart(q).mark_rule(strokeWidth=2, color="#7a7a7a").encode(alt.X("lo:Q", title=f"{outcome}"),
                                                                      alt.X2("hi:Q"), y),
        alt.Chart(q).mark_tick(color="#7a7a7a", thickness=2, size=10).encode(alt.X("lo:Q"), y),
        alt.Chart(q).mark_tick(color="#7a7a7a", thickness=2, size=10).encode(alt.X("hi:Q"), y),
        alt.Chart(q).mark_point(filled=True, size=70, color="#1f3b63").encode(
            alt.X("value:Q"), y, tooltip=["quantile:N", alt.Tooltip("value:Q", format=".2f"),
                                          alt.Tooltip("se:Q", title="bootstrap SE", format=".2f")]),
    ).properties(width=300, height=170, title="Quantiles with 95 % Monte Carlo intervals")
    right = alt.Chart(_dates(by_month)).mark_line(point=True).encode(
        _month_axis(), alt.Y("se:Q", title="bootstrap SE, USD bn per year"),
        alt.Color("quantile:N", title="quantile", legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("date:T", title="month", format="%b %Y", formatType="utc"), "quantile:N",
                 alt.Tooltip("se:Q", title="SE, USD bn", format=".2f")],
    ).properties(width=340, height=170, title="Monte Carlo error of the exports band by month")
    return alt.hconcat(left, right).properties(title="How precise are the bands? (bootstrap over draws)")


def firm_deciles_chart(frame, exporter, importer, last_label):
    """Exits, entries and export change in the focus market by decile of baseline firm size."""
    long = frame.unpivot(index="decile", on=["exits", "entries", "export_change"], variable_name="measure",
                         value_name="value").with_columns(pl.col("measure").replace_strict({
                             "exits": "Exits, per 100 baseline exporters",
                             "entries": "Entries, per 100 firms",
                             "export_change": "Exports, change %"}, return_dtype=pl.String))
    return alt.Chart(long).mark_bar(color=_BAND).encode(
        alt.X("decile:O", title="decile of baseline firm size (1 = smallest)", axis=alt.Axis(labelAngle=0)),
        alt.Y("value:Q", title=None),
        tooltip=["decile:O", "measure:N", alt.Tooltip("value:Q", format=".1f")],
    ).properties(width=230, height=170).facet(
        facet=alt.Facet("measure:N", title=None, sort=_order(long, "measure"),
                        header=alt.Header(labelFontWeight="bold")), columns=3,
    ).resolve_scale(y="independent").properties(
        title=alt.TitleParams(f"Who gains and who loses: {exporter} firms selling to {importer}, "
                              f"baseline to {last_label}",
                              subtitle="firm-level sample of the run, all draws together; empty bars: "
                                       "too few exporters in the decile"))


def differences_chart(frame, exporter, importer):
    """Per-draw difference of the pair's exports between scenarios (common random numbers)."""
    color = alt.Color("comparison:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=600))
    rule = alt.Chart().mark_rule(color="#999999").encode(y=alt.datum(0))
    return alt.layer(*_fan_layers("difference, USD bn per year", color, (alt.Tooltip("comparison:N"),)), rule,
                     data=_dates(frame)).properties(
        width=WIDTH, height=230,
        title=alt.TitleParams(f"{exporter} to {importer} exports: difference between scenarios, draw by draw",
                              subtitle="median and 5-95 % band of the per-draw difference; draws share firms and "
                                       "shocks across scenarios (common random numbers)"))


def backtest_chart(frame, what):
    """Engine band (5-95 % of draws), the engine's central path and the realized points, by month and
    series (``engine.outputs.backtest``)."""
    frame = _dates(frame.with_columns(
        pl.col("first").alias("date"),
        (pl.col("origin") + " -> " + pl.col("destination") + ", " + pl.col("sector")).alias("series")))
    month = _month_axis()
    tooltip = [alt.Tooltip("date:T", title="month", format="%b %Y", formatType="utc"),
               alt.Tooltip("engine_mean_pct:Q", title="engine", format="+.1f"),
               alt.Tooltip("engine_p5_pct:Q", title="engine 5 %", format="+.1f"),
               alt.Tooltip("engine_p95_pct:Q", title="engine 95 %", format="+.1f"),
               alt.Tooltip("realized_pct:Q", title="realized", format="+.1f"),
               alt.Tooltip("error_pp:Q", title="error, pp", format="+.1f")]
    base = alt.Chart()
    layers = [base.mark_area(opacity=0.25, color=_BAND).encode(month, alt.Y("engine_p5_pct:Q", title=what),
                                                              alt.Y2("engine_p95_pct:Q")),
              base.mark_line(strokeWidth=2, color="#1f3b63").encode(month, alt.Y("engine_mean_pct:Q"),
                                                                    tooltip=tooltip),
              base.mark_point(filled=True, size=40, color="#e45756").encode(month, alt.Y("realized_pct:Q"),
                                                                            tooltip=tooltip)]
    return alt.layer(*layers, data=frame).properties(width=340, height=170).facet(
        facet=alt.Facet("series:N", title=None, header=alt.Header(labelFontWeight="bold")), columns=2,
    ).resolve_scale(y="independent").properties(
        title=alt.TitleParams("Against realized trade: engine (line, 5-95 % band of draws) and realized (points)",
                              subtitle=what))
