"""The short table a person reads after a run: one exporter-importer pair, by sector, baseline vs
the last period, with the spread across draws."""

import tomllib

import numpy as np
import polars as pl

from engine.closures.welfare import present_value
from engine.config import PARTIAL_CLOSURES

#: Quantiles shown as a band across draws.
BAND = (0.05, 0.95)


def focus_pair(scenario_record, regions):
    """(exporter, importer) the summary shows: the scenario's ``focus``, else JPN -> USA, else the
    first two regions."""
    text_focus = scenario_record.get("focus")
    if text_focus:
        return text_focus["exporter"], text_focus["importer"]
    if "JPN" in regions and "USA" in regions:
        return "JPN", "USA"
    return regions[1], regions[0]


def pair_summary(flows, scenario, exporter, importer):
    """Per-sector and total figures for ``exporter -> importer``, baseline vs last period.

    Parameters
    ----------
    flows : polars.LazyFrame
        The flows table with its ``scenario`` column.
    scenario, exporter, importer : str

    Returns
    -------
    polars.DataFrame
        One row per sector plus ``total``: ``exports_base``, ``exports_last`` (mean) with
        ``exports_lo``/``exports_hi`` (5 % and 95 % across draws), ``change_pct`` (against the
        baseline), ``effect_pct`` with ``effect_lo``/``effect_hi`` (the policy effect: against the
        draw's no-policy path, docs/model.md section 8.1, per draw),
        ``exporters_base``, ``exporters_last``, ``tariff_last``, ``revenue_last``; values in USD bn.
    """
    pair = flows.filter((pl.col("scenario") == scenario) & (pl.col("origin") == exporter)
                        & (pl.col("destination") == importer))
    last = pair.select(pl.col("period").max()).collect().item()
    ends = pair.filter(pl.col("period").is_in([0, last])).select(
        "draw", "period", "sector", "exports", "exporters", "tariff", "tariff_revenue", "exports_no_policy").collect()
    total = ends.group_by("draw", "period").agg(
        pl.col("exports").sum(), pl.col("exporters").sum(), pl.col("tariff_revenue").sum(),
        (pl.col("tariff") * pl.col("exports")).sum().alias("_weighted"), pl.col("exports_no_policy").sum())
    total = total.with_columns(
        pl.lit("total").alias("sector"),
        (pl.col("_weighted") / pl.col("exports")).alias("tariff")).drop("_weighted")
    both = pl.concat([ends, total.select(ends.columns)])
    base = both.filter(pl.col("period") == 0).select(
        "draw", "sector", pl.col("exports").alias("base"), pl.col("exporters").alias("exporters_base"))
    after = both.filter(pl.col("period") == last).join(base, on=["draw", "sector"]).with_columns(
        percent_effect("exports", "exports_no_policy").alias("effect"))
    order = {s: j for j, s in enumerate(ends["sector"].unique(maintain_order=True).to_list() + ["total"])}
    return (after.group_by("sector").agg(
        (pl.col("base").mean() / 1e3).alias("exports_base"),
        (pl.col("exports").mean() / 1e3).alias("exports_last"),
        (pl.col("exports").quantile(BAND[0], "linear") / 1e3).alias("exports_lo"),
        (pl.col("exports").quantile(BAND[1], "linear") / 1e3).alias("exports_hi"),
        ((pl.col("exports").mean() / pl.col("base").mean() - 1) * 100).alias("change_pct"),
        pl.col("effect").mean().alias("effect_pct"),
        pl.col("effect").quantile(BAND[0], "linear").alias("effect_lo"),
        pl.col("effect").quantile(BAND[1], "linear").alias("effect_hi"),
        pl.col("exporters_base").mean(),
        pl.col("exporters").mean().alias("exporters_last"),
        pl.col("tariff").mean().alias("tariff_last"),
        (pl.col("tariff_revenue").mean() / 1e3).alias("revenue_last"),
    ).with_columns(pl.col("sector").replace_strict(order, return_dtype=pl.Int32).alias("_order"))
        .sort("_order").drop("_order"))


def percent_effect(column, reference):
    """Polars expression of ``engine.outputs.tables.percent_change``: 0 where both are 0, null where
    only the reference is (left out of means and quantiles)."""
    return (pl.when(pl.col(reference) != 0).then((pl.col(column) / pl.col(reference) - 1) * 100)
            .when(pl.col(column) == 0).then(0.0).otherwise(None))


def format_pair_summary(table, exporter, importer, base_label, last_label):
    """Render ``pair_summary`` as fixed-width text."""
    head = (f"{exporter} -> {importer}       exports, USD bn (annual rate)                 "
            f"policy effect (vs no policy)   exporters (firms)      {importer} tariff")
    sub = (f"{'sector':<24}{base_label:>8} {last_label:>8} [5%-95% draws]   change"
           f"   mean [5%-95% draws]      {base_label:>10} {last_label:>10}  rate  revenue $bn")
    lines = [head, sub]
    for row in table.iter_rows(named=True):
        band = f"[{row['exports_lo']:.1f}-{row['exports_hi']:.1f}]"
        if row["sector"] == "total":
            lines.append("-" * len(sub))
        effect = f"{row['effect_pct']:+6.1f}% [{row['effect_lo']:+.1f} to {row['effect_hi']:+.1f}]"
        lines.append(f"{row['sector']:<24}{row['exports_base']:>8.1f} {row['exports_last']:>8.1f} "
                     f"{band:<16}{row['change_pct']:>+7.1f}%  {effect:<26}{row['exporters_base']:>10,.0f} "
                     f"{row['exporters_last']:>10,.0f} {row['tariff_last'] * 100:>5.1f}% {row['revenue_last']:>8.2f}")
    return "\n".join(lines)


def region_lines(result, scenario, regions_shown, closure="ge"):
    """Text lines: the policy effects on real income (welfare) and the price index (against each draw's
    no-policy path, docs/model.md section 8.1) and tariff revenue in the last period, with bands.

    In the ``pe`` closure, which measures no income, only the price index and tariff revenue; the welfare
    decomposition is against the no-policy path in ``ge`` (there it is the baseline, or the path the
    dynamic closure measures against) and against the baseline in ``ge_fixed_wage``."""
    regions = result.scan("regions").filter(pl.col("scenario") == scenario)
    last = regions.select(pl.col("period").max()).collect().item()
    table = (regions.filter((pl.col("period") == last) & pl.col("region").is_in(list(regions_shown)))
             .group_by("region").agg(
                 *(stat(pl.col(c)).alias(f"{c}_{name}") for c in ("real_income_effect_pct", "price_index_effect_pct",
                                                                    "tariff_revenue", *DECOMPOSITION,
                                                                    "equivalent_variation")
                   for name, stat in (("mean", pl.Expr.mean),
                                      ("lo", lambda e: e.quantile(BAND[0], "linear")),
                                      ("hi", lambda e: e.quantile(BAND[1], "linear")))))
             .collect())
    def prices_and_revenue(row):
        return (f"{row['price_index_effect_pct_mean']:>+8.2f}% [{row['price_index_effect_pct_lo']:+.2f} to "
                f"{row['price_index_effect_pct_hi']:+.2f}]  "
                f"{row['tariff_revenue_mean'] / 1e3:>10.1f} [{row['tariff_revenue_lo'] / 1e3:.1f}-"
                f"{row['tariff_revenue_hi'] / 1e3:.1f}]")

    rows = {code: table.filter(pl.col("region") == code).row(0, named=True) for code in regions_shown}
    if closure in PARTIAL_CLOSURES:
        return [f"{'region':<8}{'price index effect':>26}{'tariff revenue (level), $bn/yr':>32}"] + [
            f"{code:<8} {prices_and_revenue(row)}" for code, row in rows.items()]
    lines = [f"{'region':<8}{'real income effect':>26}{'price index effect':>30}{'tariff revenue (level), $bn/yr':>32}"]
    for code, row in rows.items():
        lines.append(
            f"{code:<8}{row['real_income_effect_pct_mean']:>+9.2f}% [{row['real_income_effect_pct_lo']:+.2f} to "
            f"{row['real_income_effect_pct_hi']:+.2f}]  {prices_and_revenue(row)}")
    path_values = (regions.filter(pl.col("region").is_in(list(regions_shown))).sort("period")
                   .group_by("draw", "region").agg(pl.col("equivalent_variation")).collect())
    present = {code: np.array([present_value(np.array(ev)) for ev in
                               path_values.filter(pl.col("region") == code)["equivalent_variation"]])
               for code in regions_shown}
    against = ("the no-policy path" if closure == "ge" else "the baseline")
    lines.append(f"{'':<8}welfare decomposition of real income against {against}, pp (mean): labour, profits, "
                 f"tariff revenue, deficit, purchases{'EV, $bn/yr':>14}   PV of EV over the path, $bn (4 %/yr)")
    for code, row in rows.items():
        parts = "  ".join(f"{row[f'{c}_mean']:+7.3f}" for c in DECOMPOSITION)
        pv = present[code] / 1e3
        lines.append(f"{code:<8}{parts}   {row['equivalent_variation_mean'] / 1e3:>+10.2f} "
                     f"[{row['equivalent_variation_lo'] / 1e3:+.2f} to {row['equivalent_variation_hi'] / 1e3:+.2f}]"
                     f"   {pv.mean():+.1f} [{np.quantile(pv, BAND[0]):+.1f} to {np.quantile(pv, BAND[1]):+.1f}]")
    return lines


#: Columns of the welfare decomposition shown in the summary (engine.closures.welfare).
DECOMPOSITION = ("welfare_labour_pct", "welfare_profits_pct", "welfare_tariff_revenue_pct", "welfare_deficit_pct",
                 "welfare_purchases_pct")


def branch_labels(text):
    """Labels of every branch point of a scenario's TOML text (``parent/option/name`` when nested, as
    ``engine.scenario.policy`` labels them)."""
    labels = []

    def walk(branches, prefix):
        for branch in branches:
            label = prefix + branch["name"]
            labels.append(label)
            for option in branch.get("option", []):
                walk(option.get("branch", []), f"{label}/{option['name']}/")

    walk(tomllib.loads(text).get("branch", []), "")
    return labels


def branch_shares(draws, labels):
    """Text lines with the share of draws taking each option of each branch point in ``labels``
    (``branch_labels`` of the scenario's text: a run's draws tables share one schema, so one
    scenario's table also has the other scenarios' branch columns, all null)."""
    lines = []
    for column in sorted(f"branch.{label}" for label in labels if f"branch.{label}" in draws.columns):
        label = column.removeprefix("branch.")
        counts = draws[column].drop_nulls().value_counts(sort=True)
        total = counts["count"].sum()
        if total == 0:
            lines.append(f"  branch {label}: reached by none of the {draws.height} draws")
            continue
        shares = ", ".join(f"{row[column]} {row['count'] / total:.0%}" for row in counts.iter_rows(named=True))
        lines.append(f"  branch {label}: {shares} of {total} draws")
    return lines


def scenario_comparison(flows, names, exporter, importer):
    """Text lines: last-period exports of the pair in each scenario against the first, per draw
    (common random numbers make these differences far less noisy than the levels)."""
    totals = (flows.filter((pl.col("origin") == exporter) & (pl.col("destination") == importer)
                           & (pl.col("period") == pl.col("period").max().over("scenario")))
              .group_by("scenario", "draw").agg((pl.col("exports").sum() / 1e3).alias("exports")).collect())
    first = totals.filter(pl.col("scenario") == names[0]).select("draw", pl.col("exports").alias("reference"))
    lines = [f"{exporter} -> {importer} exports in the last period against {names[0]}, USD bn "
             f"(mean [5%-95%] of the per-draw difference):"]
    for name in names[1:]:
        diff = totals.filter(pl.col("scenario") == name).join(first, on="draw").select(
            (pl.col("exports") - pl.col("reference")).alias("d"))["d"]
        if diff.is_empty():  # failed draws (engine.runs.plan.simulate_draw) left none in common
            lines.append(f"  {name}: no draw solved in both scenarios")
            continue
        lines.append(f"  {name}: {diff.mean():+.1f} [{diff.quantile(BAND[0], 'linear'):+.1f} to "
                     f"{diff.quantile(BAND[1], 'linear'):+.1f}]")
    return lines


def run_summary(result):
    """Text summary of every scenario of a run (``engine.runs.result.SimulationResult``)."""
    manifest = result.manifest
    regions = manifest["calibration"]["regions"]
    flows = result.scan("flows")
    blocks = []
    for record in manifest["scenarios"]:
        exporter, importer = focus_pair(record, regions)
        dates = flows.filter(pl.col("scenario") == record["name"]).select(
            pl.col("date").min().alias("first"), pl.col("date").max().alias("last")).collect().row(0)
        table = pair_summary(flows, record["name"], exporter, importer)
        title = f"Scenario {record['name']}: {record['title']}" if record["title"] else f"Scenario {record['name']}"
        lines = [title, f"{manifest['draws']} draws x {manifest['firms_per_block']:,} simulated firms per "
                        f"origin-sector, seed {manifest['seed']}, {record['closure'].upper()} closure",
                 format_pair_summary(table, exporter, importer, dates[0].strftime("%Y-%m"),
                                     dates[1].strftime("%Y-%m"))]
        failed = [f for f in manifest.get("failed_draws", []) if f["scenario"] == record["name"]]
        if failed:
            shown = ", ".join(str(f["draw"]) for f in failed[:10]) + (", ..." if len(failed) > 10 else "")
            lines.insert(2, f"  {len(failed)} of the {manifest['draws']} draws failed (draw {shown}: the "
                            f"equilibrium did not converge) and {'is' if len(failed) == 1 else 'are'} left out of "
                            "every figure; the draws table's 'failure' column says why")
        lines += [f"Regions in {dates[1].strftime('%Y-%m')} (mean [5%-95%] across draws; effects: against each draw's "
                  "no-policy path):"]
        lines += region_lines(result, record["name"], (importer, exporter), closure=record["closure"])
        if record["closure"] in PARTIAL_CLOSURES:
            lines.append(f"  welfare: not measured in {record['closure']} (wages fixed in local currency, profits left out of income); "
                         "--closure ge gives real income, EV and their decomposition (docs/model.md)")
        elif record["closure"] != "ge":
            lines.append(f"  note: {record['closure']} fixes wages in local currency and leaves profits out of income, "
                         "so exchange rates move welfare and foreign tariffs barely do; --closure ge (docs/model.md)")
        elif _moves_exchange_rates(tomllib.loads(record["text"])):
            lines.append("  exchange rates: the scenario's [[fx]] and [[fx_process]] move nothing in ge (wages are "
                         "flexible, so a nominal exchange rate has no real effect; docs/model.md 6.2); --closure "
                         "pe_moving prices them through the invoicing currency (section 11.5)")
        draws = pl.read_parquet(result.path / "draws" / f"scenario={record['name']}" / "*.parquet")
        lines += branch_shares(draws.filter(pl.col("failure").is_null()) if "failure" in draws.columns else draws,
                               branch_labels(record["text"]))
        blocks.append("\n".join(lines))
    names = [r["name"] for r in manifest["scenarios"]]
    if len(names) > 1:
        exporter, importer = focus_pair(manifest["scenarios"][0], regions)
        blocks.append("\n".join(scenario_comparison(flows, names, exporter, importer)))
    warning = precision_warning(result)
    if warning:
        blocks.append(warning)
    return "\n\n".join(blocks)


#: Cells the precision warning names (the largest errors first).
WORST_SHOWN = 3


def precision_warning(result, shown=WORST_SHOWN):
    """A short warning when cells of the main (first) scenario's last period have a firm-sampling
    error of the policy effect on exports above the run's precision (docs/model.md section 8.2): how
    many, the worst ``shown`` with the simulated firms each would need, and the ``--firms`` that
    brings them all within. Empty when every cell is within (or the run predates the estimate)."""
    manifest = result.manifest
    precision = manifest.get("precision")
    name = manifest["scenarios"][0]["name"]
    summary = result.scan("summary").filter(pl.col("scenario") == name)
    if precision is None or "exports_effect_firm_se_pp" not in summary.collect_schema().names():
        return ""
    last = summary.select(pl.col("period").max()).collect().item()
    se = pl.col("exports_effect_firm_se_pp")
    above = (summary.filter((pl.col("period") == last) & (pl.col("sector") != "ALL") & se.is_not_nan()
                            & (se > precision))
             .select("origin", "destination", "sector", "exports_effect_firm_se_pp", "firms_for_precision")
             .sort("exports_effect_firm_se_pp", descending=True).collect())
    if above.is_empty():
        return ""
    count = above.height
    worst = "; ".join(f"{row['origin']} -> {row['destination']} {row['sector']} "
                      f"{_pp(row['exports_effect_firm_se_pp'])} pp (about {_round_up(row['firms_for_precision']):,} "
                      f"firms for {precision:g} pp)" for row in above.head(shown).iter_rows(named=True))
    more = f"; and {count - shown} more" if count > shown else ""
    needed = _round_up(above["firms_for_precision"].max())
    cells = "1 cell's policy effect has" if count == 1 else f"{count} cells' policy effects have"
    return (f"Precision: in {last_label(result, name)}, {cells} a firm-sampling error above {precision:g} pp (se of "
            f"one draw, from two half-populations of the simulated firms; docs/model.md section 8.2): "
            f"{worst}{more}. --firms {needed:,} would bring {'it' if count == 1 else 'them all'} within "
            f"{precision:g} pp (every cell: the summary's firms_for_precision).")


def last_label(result, scenario):
    """The last period of ``scenario`` as YYYY-MM."""
    last = (result.scan("summary").filter(pl.col("scenario") == scenario).select(pl.col("date").max())
            .collect().item())
    return last.strftime("%Y-%m")


def _pp(value):
    """Percentage points to two significant digits (whole numbers from 100 on)."""
    return f"{value:.2g}" if value < 100 else f"{value:.0f}"


def _round_up(firms):
    """``firms`` rounded up to two significant digits (an advice, not a count)."""
    firms = int(np.ceil(firms))
    step = 10 ** max(len(str(firms)) - 2, 0)
    return -(-firms // step) * step


def _moves_exchange_rates(node):
    """Whether a parsed scenario (or part of it) has ``[[fx]]`` or ``[[fx_process]]`` entries, branches
    included."""
    if isinstance(node, dict):
        return any(key in ("fx", "fx_process") or _moves_exchange_rates(value) for key, value in node.items())
    return isinstance(node, list) and any(_moves_exchange_rates(item) for item in node)
