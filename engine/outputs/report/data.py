"""The numbers behind the report, read from a run folder: small Polars frames, one per chart.

Everything is computed from the run's own tables (``flows``, ``draws``, ``regions`` and, when the
run wrote it, ``firms``). Values in USD are shown in billions per year (annual rate of the month).
Bands are quantiles across draws (5-95 % and 25-75 %, linear interpolation), as in the terminal
summary.

Optional columns: runs written by older engine versions lack some columns. The report shows a
chart when its columns are there and leaves it out (with a note) when they are not:

- price vs volume: the flows column ``export_price_index`` (customs unit value, period 0 = 1);
- welfare decomposition: regions columns named ``welfare_*`` or ``*_contribution_pct`` (components
  of the real income change, percent), labelled by the description in the Parquet metadata;
- firm deciles: the ``firms`` table (``engine simulate --firm-output sample``).
"""

import polars as pl
import pyarrow.parquet as pq

from engine.outputs.attribution import bootstrap_quantile_se
from engine.outputs.summary import focus_pair, percent_effect

QUANTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}

#: Fan chart measures of the focus pair: column -> (title, unit, scale from the table's unit).
FAN_MEASURES = {
    "exports": ("Exports", "USD bn per year", 1e-3),
    "exporters": ("Exporters", "firms", 1.0),
    "entries": ("Entries", "firms per month", 1.0),
    "exits": ("Exits", "firms per month", 1.0),
    "policy_effect": ("Policy effect on exports, against the draw's no-policy path", "%", 1.0),
}
#: Fewest simulated baseline sellers in a decile for its exit rate and export change to be shown.
MIN_SELLERS = 20
_FLOW_SUMS = ("exports", "exporters", "entries", "exits", "exports_intensive", "exports_extensive",
              "stock_change", "tariff_revenue", "exports_no_policy")


def _quantile_aggs(column):
    return [pl.col(column).quantile(q, "linear").alias(name) for name, q in QUANTILES.items()] + [
        pl.col(column).mean().alias("mean"), pl.len().alias("draws")]


def _match(columns, prefixes=(), contains=()):
    return [c for c in columns if c.startswith(prefixes) or any(s in c for s in contains)]


def column_descriptions(result, table):
    """Column -> description from the Parquet metadata of ``table`` (empty if none)."""
    files = sorted((result.path / table).glob("scenario=*/*.parquet"))
    if not files:
        return {}
    schema = pq.read_schema(files[0])
    return {f.name: (f.metadata or {}).get(b"description", b"").decode() for f in schema}


class ScenarioData:
    """The focus pair of one scenario, per draw and month, and the frames the charts draw.

    Parameters
    ----------
    result : engine.runs.result.SimulationResult
    record : dict
        The scenario's entry in the manifest.
    """

    def __init__(self, result, record):
        self.result, self.record, self.name = result, record, record["name"]
        regions = result.manifest["calibration"]["regions"]
        self.exporter, self.importer = focus_pair(record, regions)
        draws = result.scan("draws").filter(pl.col("scenario") == self.name).collect()
        if "failure" in draws.columns:  # failed draws have no results (engine.runs.plan.simulate_draw)
            draws = draws.filter(pl.col("failure").is_null())
        self.draws = draws.select([c for c in draws.columns if draws[c].null_count() < draws.height])
        if "path" not in self.draws.columns:
            self.draws = self.draws.with_columns(pl.lit("").alias("path"))
        self.draws = self.draws.with_columns(
            pl.when(pl.col("path").fill_null("") == "").then(pl.lit("(no branches)")).otherwise(pl.col("path"))
            .alias("path"))
        flows = result.scan("flows").filter(
            (pl.col("scenario") == self.name) & (pl.col("origin") == self.exporter)
            & (pl.col("destination") == self.importer))
        self.flow_columns = flows.collect_schema().names()
        self.cells = flows.collect().join(self.draws.select("draw", "path"), on="draw", how="left")
        self.last_period = int(self.cells["period"].max())
        sums = [pl.col(c).sum() for c in _FLOW_SUMS if c in self.flow_columns]
        self.totals = self.cells.group_by("draw", "path", "period", "date").agg(sums).sort("draw", "period")
        if "exports_no_policy" in self.totals.columns:  # runs written before output schema 4 have none
            self.totals = self.totals.with_columns(percent_effect("exports", "exports_no_policy").alias("policy_effect"))

    # --- the focus pair -------------------------------------------------------------------------
    def calendar(self):
        """Tariff in force (percent) by path, month and sector: the first draw on each path."""
        first = self.cells.group_by("path").agg(pl.col("draw").min(), pl.col("draw").n_unique().alias("n"))
        return (self.cells.join(first, on=["path", "draw"]).select(
            "path", "date", "sector", (pl.col("tariff") * 100).alias("tariff_pct"), "n")
            .with_columns(pl.format("{} ({} draws)", "path", "n").alias("path_label")).sort("path", "sector", "date"))

    def fans(self, by_path=False):
        """Quantiles across draws of each fan measure per month (long: ``measure`` column)."""
        keys = ["path", "date"] if by_path else ["date"]
        frames = []
        for column, (title, unit, scale) in FAN_MEASURES.items():
            if column not in self.totals.columns:
                continue
            frames.append(self.totals.with_columns(pl.col(column) * scale).group_by(keys).agg(
                _quantile_aggs(column)).with_columns(pl.lit(f"{title} ({unit})").alias("measure")))
        out = pl.concat(frames).sort(*keys)
        if by_path:
            counts = self.draws.group_by("path").len()
            out = out.join(counts, on="path").with_columns(
                pl.format("{} ({} draws)", "path", "len").alias("path_label")).drop("len")
        return out

    def margins(self):
        """Mean across draws of the change in exports against the baseline, split into the
        intensive margin (firms selling in both months), the extensive margin (entry and exit) and
        importers' stock changes (runs written before output schema 6 have none), USD bn per year."""
        if not {"exports_intensive", "exports_extensive"} <= set(self.totals.columns):
            return None
        stocks = ([(pl.col("stock_change").mean() / 1e3).alias("importers' stocks")]
                  if "stock_change" in self.totals.columns else [])
        base = self.totals.filter(pl.col("period") == 0).select("draw", pl.col("exports").alias("base"))
        frame = self.totals.join(base, on="draw").group_by("date").agg(
            (pl.col("exports_intensive").mean() / 1e3).alias("intensive margin"),
            (pl.col("exports_extensive").mean() / 1e3).alias("extensive margin"), *stocks,
            ((pl.col("exports") - pl.col("base")).mean() / 1e3).alias("total change")).sort("date")
        return frame.unpivot(index="date", variable_name="component", value_name="usd_bn")

    def price_volume(self):
        """Median across draws of the export price and volume indices (baseline = 1), or None when
        the flows table has no unit value or quantity column.

        Aggregation over sectors: volume ``Q = sum_k X_k / u_k`` (exports at baseline unit
        values) with ``u`` the flows' ``export_price_index``; price = ``(X / X_0) / (Q / Q_0)``,
        the implicit (Paasche) deflator.
        """
        if "export_price_index" not in self.flow_columns:  # runs written before the column existed
            return None
        volume = (pl.col("exports") / pl.col("export_price_index")).sum()
        per = self.cells.group_by("draw", "period", "date").agg(pl.col("exports").sum(), volume.alias("volume"))
        base = per.filter(pl.col("period") == 0).select("draw", pl.col("exports").alias("x0"),
                                                         pl.col("volume").alias("q0"))
        per = per.join(base, on="draw").with_columns(
            (pl.col("volume") / pl.col("q0")).alias("volume index"),
            ((pl.col("exports") / pl.col("x0")) / (pl.col("volume") / pl.col("q0"))).alias("price index"))
        long = per.unpivot(index=["draw", "date"], on=["price index", "volume index"],
                           variable_name="component", value_name="index")
        return long.group_by("component", "date").agg(_quantile_aggs("index")).sort("component", "date")

    def headline_outcome(self, base_label, last_label):
        """What ``headline`` measures, in words (a chart axis, the page's headline)."""
        pair = f"{self.exporter} to {self.importer} exports"
        if "policy_effect" in self.totals.columns:
            return f"policy effect on {pair} in {last_label}, % against each draw's no-policy path"
        return f"{pair}, {last_label} vs {base_label}, % change"

    def headline(self):
        """Per draw: the policy effect on the pair's exports in the last month, percent against the
        draw's no-policy path (``change_pct``; against the baseline for runs written before output
        schema 4)."""
        if "policy_effect" in self.totals.columns:
            last = self.totals.filter(pl.col("period") == self.last_period)
            return last.select("draw", pl.col("policy_effect").alias("change_pct")).join(self.draws, on="draw").sort(
                "draw")
        ends = self.totals.filter(pl.col("period").is_in([0, self.last_period]))
        wide = ends.pivot("period", index="draw", values="exports")
        return wide.select("draw", ((pl.col(str(self.last_period)) / pl.col("0") - 1) * 100).alias("change_pct")
                           ).join(self.draws, on="draw").sort("draw")

    def band_error_by_month(self):
        """Bootstrap standard error (over draws) of the 5 %, 50 % and 95 % quantiles of the pair's
        exports (USD bn per year) in each month."""
        wide = self.totals.pivot("draw", index="date", values="exports").sort("date")
        values = wide.drop("date").to_numpy() / 1e3
        se = bootstrap_quantile_se(values, (0.05, 0.5, 0.95))
        frames = [pl.DataFrame({"date": wide["date"], "quantile": name, "se": se[j]})
                  for j, name in enumerate(("5 %", "50 %", "95 %"))]
        return pl.concat(frames)

    def suppliers(self):
        """Quantiles across draws of the policy effect on each supplier's exports to the importer in
        the last month, percent against the draw's no-policy path (its own producers labelled
        ``"<code> (domestic)"``): who gains when one supplier is taxed (diversion, docs/model.md
        section 6.5). None for runs written before output schema 4 (no no-policy path)."""
        flows = self.result.scan("flows").filter(
            (pl.col("scenario") == self.name) & (pl.col("destination") == self.importer)
            & (pl.col("period") == self.last_period))
        if "exports_no_policy" not in flows.collect_schema().names():
            return None
        per = (flows.group_by("draw", "origin").agg(pl.col("exports").sum(), pl.col("exports_no_policy").sum())
               .collect().join(self.draws.select("draw"), on="draw")
               .with_columns(percent_effect("exports", "exports_no_policy").alias("effect"),
                             pl.when(pl.col("origin") == self.importer).then(pl.format("{} (domestic)", "origin"))
                             .otherwise(pl.col("origin")).alias("supplier")))
        return per.group_by("supplier").agg(_quantile_aggs("effect")).sort("p50")

    # --- regions -------------------------------------------------------------------------------
    def regions_last(self):
        """Regions in the last month, one row per (draw, region)."""
        return self.result.scan("regions").filter(
            (pl.col("scenario") == self.name) & (pl.col("period") == self.last_period)).collect()

    def region_bands(self):
        """Quantiles across draws of the policy effects on welfare and the price index (against each
        draw's no-policy path) and tariff revenue by region."""
        last = self.regions_last()
        income = ("Real income effect (welfare), %" if self.record.get("closure", "ge") == "ge"
                  else "Real income effect (fixed-wage accounting, not welfare), %")
        measures = {income: pl.col("real_income_effect_pct"),
                    "Price index effect, %": pl.col("price_index_effect_pct"),
                    "Tariff revenue, USD bn per year": pl.col("tariff_revenue") / 1e3}
        frames = [last.select("region", expr.alias("value")).group_by("region", maintain_order=True)
                  .agg(_quantile_aggs("value"))
                  .with_columns(pl.lit(title).alias("measure"))
                  for title, expr in measures.items() if set(expr.meta.root_names()) <= set(last.columns)]
        return pl.concat(frames)

    def welfare_decomposition(self):
        """Mean across draws of each welfare component by region (percent), or None when the
        regions table has no decomposition columns."""
        last = self.regions_last()
        columns = [c for c in _match(last.columns, ("welfare_",), ("_contribution_pct",))
                   if last[c].dtype.is_numeric()]
        if not columns:
            return None
        described = column_descriptions(self.result, "regions")
        frame = last.group_by("region").agg(pl.col(c).mean() for c in columns)
        long = frame.unpivot(index="region", on=columns, variable_name="column", value_name="percent")
        return long.with_columns(pl.col("column").replace_strict(
            {c: described.get(c) or c for c in columns}, return_dtype=pl.String).alias("component"))

    # --- firms ---------------------------------------------------------------------------------
    def firm_deciles(self):
        """Exits, entries and export change in the focus market by decile of baseline firm size,
        or None without a firms table.

        A firm's size is its baseline sales in all markets; deciles are taken within each
        (draw, sector) of the simulated firms that sell somewhere at baseline (equal weights in a
        block, so these are deciles of real firms). Exits: firms selling to the importer at
        baseline and not in the last month, per 100 baseline sellers there; entries: the reverse,
        per 100 firms of the decile; export change: the decile's exports to the importer, last
        month over baseline, percent.
        """
        folder = self.result.path / "firms" / f"scenario={self.name}"
        if not folder.is_dir():
            return None
        rows = (pl.scan_parquet(folder / "*.parquet")
                .filter((pl.col("origin") == self.exporter) & pl.col("period").is_in([0, self.last_period]))
                .select("draw", "period", "sector", "firm_id", "weight", "destination", "exports").collect())
        base = rows.filter(pl.col("period") == 0)
        if base.height == 0:
            return None
        size = base.group_by("draw", "sector", "firm_id").agg(pl.col("exports").sum().alias("size"),
                                                              pl.col("weight").max().alias("w"))
        size = size.with_columns(
            ((pl.col("size").rank("ordinal").over("draw", "sector") - 1) * 10
             // pl.len().over("draw", "sector") + 1).cast(pl.Int32).alias("decile"))
        market = rows.filter(pl.col("destination") == self.importer)
        x0 = market.filter(pl.col("period") == 0).select("draw", "sector", "firm_id", pl.col("exports").alias("x0"),
                                                         pl.col("weight").alias("w0"))
        x1 = market.filter(pl.col("period") == self.last_period).select(
            "draw", "sector", "firm_id", pl.col("exports").alias("x1"), pl.col("weight").alias("w1"))
        firms = size.join(x0, on=["draw", "sector", "firm_id"], how="left").join(
            x1, on=["draw", "sector", "firm_id"], how="left")
        enough = pl.col("x0").count() >= MIN_SELLERS
        per = firms.group_by("decile").agg(
            pl.when(enough).then(pl.col("w0").filter(pl.col("x1").is_null()).sum() / pl.col("w0").sum() * 100)
            .alias("exits"),
            (pl.col("w1").filter(pl.col("x0").is_null()).sum() / pl.col("w").sum() * 100).alias("entries"),
            pl.when(enough).then(((pl.col("x1") * pl.col("w1")).sum() / (pl.col("x0") * pl.col("w0")).sum() - 1)
                                 * 100).alias("export_change"),
            pl.len().alias("firms")).sort("decile")
        return per.fill_nan(None)


def scenario_differences(result, exporter, importer):
    """Per-draw difference of the pair's exports (USD bn) between each scenario and the first, by
    month, as quantiles across draws; None with one scenario. Draw ``j`` of every scenario uses
    the same firms and shocks (common random numbers), so these bands hold the policy difference,
    not the noise."""
    names = [s["name"] for s in result.manifest["scenarios"]]
    if len(names) < 2:
        return None
    totals = (result.scan("flows").filter((pl.col("origin") == exporter) & (pl.col("destination") == importer))
              .group_by("scenario", "draw", "period", "date").agg((pl.col("exports").sum() / 1e3).alias("x"))
              .collect())
    reference = totals.filter(pl.col("scenario") == names[0]).select("draw", "period", pl.col("x").alias("ref"))
    diff = totals.filter(pl.col("scenario") != names[0]).join(reference, on=["draw", "period"]).with_columns(
        (pl.col("x") - pl.col("ref")).alias("difference"))
    out = diff.group_by("scenario", "date").agg(_quantile_aggs("difference")).sort("scenario", "date")
    return out.with_columns(pl.format("{} minus {}", "scenario", pl.lit(names[0])).alias("comparison"))

