"""Output tables: their Arrow schemas, written down once and carried in the files (the run folder
itself is ``engine.runs.store``; the result object of the Python API ``engine.runs.result``).

Run folder layout::

    OUT/manifest.json                         written last; status "complete"
    OUT/flows/scenario=NAME/part-00000.parquet one file per chunk of draws
    OUT/draws/scenario=NAME/part-00000.parquet one row per draw: sampled values, branch path
    OUT/summary/scenario=NAME/part-00000.parquet mean and 5/50/95 % across draws per period and cell
    OUT/regions/scenario=NAME/part-00000.parquet income, tariff revenue, prices, welfare per region
    OUT/prices/scenario=NAME/part-00000.parquet  price index and spending per region and sector
    OUT/firms/scenario=NAME/part-00000.parquet only with firm output; one file per chunk

Every part file of a table has the same schema, in every scenario (``draws``: the union of the
scenarios' sampled columns, null where one does not apply), so ``pl.scan_parquet(OUT / "draws")``,
``pyarrow.dataset.dataset(OUT / "draws")`` and DuckDB ``read_parquet`` read a table with no options.
"""

import pyarrow as pa
import pyarrow.parquet as pq

from engine._version import __version__

#: Version of the output tables' layout and schemas, in every manifest; a run is never resumed
#: across versions. 2: one schema per table across parts and scenarios, firm rows per chunk; 3: failed
#: draws; 4: the draw's no-policy path in flows, regions and summary; 5: the firm-sampling error of the
#: policy effect (``exports_effect_halves_pp`` in flows, ``exports_effect_firm_se_pp`` and
#: ``firms_for_precision`` in summary); 6: importers' stocks (``final_sales``, ``stock_change``,
#: ``importer_stock`` in flows; ``exports`` are customs imports); 7: ``employment`` in regions; 8:
#: ``import_share`` and ``import_price_index`` in prices (nested demand).
OUTPUT_SCHEMA_VERSION = 8
#: ``manifest.json`` ``kind`` of an engine run folder (what ``--overwrite`` may replace).
RUN_KIND = "tradeflow-engine run"

_MUSD = "USD million per year (annual rate, baseline exchange rates)"


def _field(name, dtype, description, unit="", nullable=False):
    meta = {"description": description}
    if unit:
        meta["unit"] = unit
    return pa.field(name, dtype, nullable=nullable, metadata=meta)


_KEYS = [
    _field("draw", pa.int32(), "Monte Carlo draw number, 0-based"),
    _field("period", pa.int32(), "period number; 0 is the calibrated baseline"),
    _field("date", pa.date32(), "first day of the monthly period"),
    _field("origin", pa.string(), "exporting region code"),
]

FLOWS_SCHEMA = pa.schema(
    _KEYS + [
        _field("destination", pa.string(), "importing region code (= origin for domestic sales)"),
        _field("sector", pa.string(), "sector code"),
        _field("tariff", pa.float64(), "ad-valorem tariff in force, day-weighted mean over the month", "fraction"),
        _field("exports", pa.float64(), "customs value of what crosses the border (net of the importer's "
               "tariff): final_sales + stock_change", _MUSD),
        _field("sales", pa.float64(), "consumer value, final_sales * (1 + tariff)", _MUSD),
        _field("tariff_revenue", pa.float64(), "tariff collected by the destination at the border, "
               "exports * tariff", _MUSD),
        _field("final_sales", pa.float64(), "customs value of what buyers take: the firm model's sales "
               "(and purchase commitments); equal to exports without importers' stocks", _MUSD),
        _field("stock_change", pa.float64(), "importers' stock change at this month's customs price, times "
               "12 (dynamic model with [dynamics] inventories; 0 otherwise and in domestic cells; docs/model.md "
               "section 11.9)", _MUSD),
        _field("importer_stock", pa.float64(), "importers' stock of the cell's goods at the end of the month, "
               "at this month's customs price (a level, not a rate)", "USD million"),
        _field("exporters", pa.float64(), "real firms selling in the cell", "firms"),
        _field("entries", pa.float64(), "real firms selling now that did not sell in the previous period", "firms"),
        _field("exits", pa.float64(), "real firms that sold in the previous period and no longer do", "firms"),
        _field("exports_intensive", pa.float64(), "change in final sales against period 0 from firms that sell "
               "in both periods", _MUSD),
        _field("exports_extensive", pa.float64(), "change in final sales against period 0 from firms that "
               "started or stopped selling (exports change = intensive + extensive + stock_change)", _MUSD),
        _field("export_price_index", pa.float64(), "customs unit value of the cell's exports, in the "
               "destination's currency, against period 0 (price at constant composition)", "index, period 0 = 1"),
        _field("export_quantity_index", pa.float64(), "exports / period-0 exports / export_price_index "
               "(1 in a cell without exports in period 0: it stays closed)", "index, period 0 = 1"),
        _field("operating_profit", pa.float64(), "exporters' operating profit before fixed and sunk costs, "
               "exports * margin, in the origin's currency at baseline rates", _MUSD),
        *(_field(f"{name}_no_policy", pa.float64(), f"{name} on the draw's no-policy path: the same firms, "
                 "productivity and exchange-rate paths and parameters, the scenario's tariff, trade-cost and demand "
                 "events removed (docs/model.md section 8.1)", unit) for name, unit in
          (("exports", _MUSD), ("sales", _MUSD), ("tariff_revenue", _MUSD), ("exporters", "firms"))),
        _field("exports_effect_pct", pa.float64(), "policy effect on exports: 100 * (exports / exports_no_policy "
               "- 1); 0 where both are 0, NaN where only exports_no_policy is", "percent"),
        _field("exports_effect_halves_pp", pa.float64(), "the policy effect on exports in the half-population of "
               "the odd simulated firms minus that in the half of the even ones (each half: the cell's certainty "
               "pairs and its sampled pairs of one parity at twice their weight, calibrated to the baseline flow "
               "like the whole, at the same prices); its spread across draws measures the firm-sampling error of "
               "exports_effect_pct (docs/model.md section 8.2). Exactly 0 where no policy touches the cell; each "
               "half's percent as exports_effect_pct's (0 where both its levels are 0, NaN where only its "
               "no-policy level is)", "percentage points"),
    ],
    metadata={"table": "flows", "engine_version": __version__,
              "grain": "one row per (draw, period, origin, destination, sector); scenario is the "
                       "hive partition key of the folder"},
)

FIRMS_SCHEMA = pa.schema(
    _KEYS + [
        _field("sector", pa.string(), "sector code"),
        _field("firm_id", pa.int64(), "simulated firm number within (origin, sector); same firm in every scenario"),
        _field("productivity", pa.float64(), "Pareto productivity phi (>= 1); with the dynamic model phi * exp(z), "
               "its value in this period"),
        _field("weight", pa.float64(), "real firms this simulated firm stands for here (times its active "
               "fraction if it is the cell's marginal firm)", "firms"),
        _field("destination", pa.string(), "market the firm sells in"),
        _field("exports", pa.float64(), "exports of one real firm of this type, net of tariff", _MUSD),
    ],
    metadata={"table": "firms", "engine_version": __version__,
              "grain": "one row per (draw, period, firm, destination) where the firm sells"},
)


REGIONS_SCHEMA = pa.schema(
    _KEYS[:3] + [
        _field("region", pa.string(), "region code"),
        _field("income", pa.float64(), "GDP: wages + profits net of fixed costs (ge); the baseline wage bill "
               "(ge_fixed_wage, pe)", _MUSD),
        _field("tariff_revenue", pa.float64(), "tariff revenue collected and rebated to consumers", _MUSD),
        _field("expenditure", pa.float64(), "consumer spending: income + tariff revenue + deficit - government "
               "purchases (pe_moving: the no-policy path's, held fixed; tariff revenue is not spent)", _MUSD),
        _field("price_index", pa.float64(), "consumer price index, Cobb-Douglas over sectors", "baseline = 1"),
        _field("real_income_change_pct", pa.float64(), "real income against the baseline: welfare in ge; "
               "in pe, pe_moving and ge_fixed_wage accounting with wages fixed and profits left out", "percent"),
        _field("import_share", pa.float64(), "imports in consumer spending (at consumer prices)", "fraction"),
        _field("domestic_share", pa.float64(), "domestic goods in consumer spending", "fraction"),
        _field("wage", pa.float64(), "wage (ge: numeraire world GDP; 1 in ge_fixed_wage and pe)", "baseline = 1"),
        _field("employment", pa.float64(), "labour supplied (ge with [ge] labour_supply; 1 with fixed labour, "
               "docs/model.md section 6.6)", "baseline = 1"),
        _field("profits", pa.float64(), "operating profits of the region's firms net of fixed and sunk costs "
               "(ge; 0 where income excludes them)", _MUSD),
        _field("deficit", pa.float64(), "trade deficit (ge: fixed share of world GDP)", _MUSD),
        _field("purchases", pa.float64(), "government purchases under commitments (ge), consumer value", _MUSD),
        _field("welfare_labour_pct", pa.float64(), "welfare decomposition: real wage bill (terms of trade), net "
               "of the disutility of work when labour supply responds", "percent of baseline spending"),
        _field("welfare_profits_pct", pa.float64(), "welfare decomposition: real profits",
               "percent of baseline spending"),
        _field("welfare_tariff_revenue_pct", pa.float64(), "welfare decomposition: real tariff revenue "
               "(volume of trade)", "percent of baseline spending"),
        _field("welfare_deficit_pct", pa.float64(), "welfare decomposition: real deficit",
               "percent of baseline spending"),
        _field("welfare_purchases_pct", pa.float64(), "welfare decomposition: cost of commitments",
               "percent of baseline spending"),
        _field("equivalent_variation", pa.float64(), "equivalent variation: baseline spending x welfare change "
               "(with a non-default [ge]: the change in consumption less the disutility of work, docs/model.md "
               "section 6.6; the welfare_* parts are then percent of that baseline value)", _MUSD),
        _field("ge_iterations", pa.int32(), "evaluations of the whole system in the period (ge: Newton "
               "steps and line search; ge_fixed_wage: safeguarded secant; 0 in PE)"),
        _field("ge_residual", pa.float64(), "max |a + log P-sum - log E| (and, in ge, |log labour supply - "
               "log demand|, commitment gaps) at the solution, a = log(A/A0) (0 in PE)", "log points"),
        _field("income_no_policy", pa.float64(), "income on the draw's no-policy path (docs/model.md section 8.1)",
               _MUSD),
        _field("tariff_revenue_no_policy", pa.float64(), "tariff revenue on the draw's no-policy path", _MUSD),
        _field("price_index_no_policy", pa.float64(), "consumer price index on the draw's no-policy path (1 in ge: "
               "there price_index is measured against that path already, docs/model.md section 8.1)", "baseline = 1"),
        _field("price_index_effect_pct", pa.float64(), "policy effect on the consumer price index: 100 * "
               "(price_index / price_index_no_policy - 1)", "percent"),
        _field("real_income_effect_pct", pa.float64(), "policy effect on real income: real income against the "
               "draw's no-policy path in the same period, 100 * ((1 + real_income_change_pct / 100) / (1 + its "
               "no-policy value / 100) - 1); the welfare effect in ge", "percent"),
    ],
    metadata={"table": "regions", "engine_version": __version__,
              "grain": "one row per (draw, period, region); scenario is the hive partition key"},
)

PRICES_SCHEMA = pa.schema(
    _KEYS[:3] + [
        _field("region", pa.string(), "importing (consuming) region code"),
        _field("sector", pa.string(), "sector code"),
        _field("expenditure", pa.float64(), "consumer spending on the sector", _MUSD),
        _field("price_index", pa.float64(), "CES price index of the sector", "baseline = 1"),
        _field("domestic_share", pa.float64(), "domestic goods in spending on the sector", "fraction"),
        _field("import_share", pa.float64(), "imports in spending on the sector (1 - domestic_share)", "fraction"),
        _field("import_price_index", pa.float64(), "price index of the sector's imports, every foreign supplier "
               "(the import nest, docs/model.md (6.17)), as price_index (dynamic ge: against the no-policy path); "
               "1 without imports, null once every import has stopped", "baseline = 1"),
    ],
    metadata={"table": "prices", "engine_version": __version__,
              "grain": "one row per (draw, period, region, sector); scenario is the hive partition key"},
)

#: Variables and across-draw statistics of the ``summary`` table (columns ``{variable}_{stat}``, and
#: ``{variable}_effect_{stat}`` of the per-draw difference from the no-policy path).
SUMMARY_VARIABLES = ("exports", "sales", "tariff_revenue", "exporters")
#: Flow columns whose no-policy value is a column ``{name}_no_policy`` (docs/model.md section 8.1).
NO_POLICY_FLOWS = SUMMARY_VARIABLES
#: Region columns whose no-policy value is a column ``{name}_no_policy``.
NO_POLICY_REGIONS = ("income", "tariff_revenue", "price_index")
SUMMARY_STATS = (("p5", 0.05), ("p50", 0.50), ("p95", 0.95))


def _summary_schema():
    fields = [
        _KEYS[1], _KEYS[2], _KEYS[3],
        _field("destination", pa.string(), "importing region code"),
        _field("sector", pa.string(), "sector code, or ALL for the total of the (origin, destination) pair"),
    ]
    for variable in SUMMARY_VARIABLES:
        flow_field = FLOWS_SCHEMA.field(variable)
        unit = flow_field.metadata.get(b"unit", b"").decode()
        for column, what in ((variable, variable), (f"{variable}_effect", f"the policy effect on {variable}, "
                             f"{variable} - {variable}_no_policy per draw")):
            fields.append(_field(f"{column}_mean", pa.float64(), f"mean across draws of {what}", unit))
            for name, q in SUMMARY_STATS:
                fields.append(_field(f"{column}_{name}", pa.float64(),
                                     f"{q:.0%} quantile across draws of {what} (linear interpolation)", unit))
    what = "the policy effect on exports in percent, 100 * (exports / exports_no_policy - 1) per draw"
    fields.append(_field("exports_effect_pct_mean", pa.float64(), f"mean across draws of {what}", "percent"))
    for name, q in SUMMARY_STATS:
        fields.append(_field(f"exports_effect_pct_{name}", pa.float64(), f"{q:.0%} quantile across draws of {what}",
                             "percent"))
    fields.append(_field("exports_effect_firm_se_pp", pa.float64(), "standard error of one draw's "
                         "exports_effect_pct due to the sampled firms: sqrt(mean across draws of "
                         "exports_effect_halves_pp^2) / 2 (two half-populations, docs/model.md section 8.2); null for "
                         "sector ALL and where no draw has a value", "percentage points", nullable=True))
    fields.append(_field("firms_for_precision", pa.float64(), "simulated firms per origin-sector (--firms) that "
                         "would bring exports_effect_firm_se_pp down to the run's precision (manifest 'precision'): "
                         "ceil(firms * (se / precision)^2) where se is above it, else the run's firms; null where "
                         "the se is", "firms", nullable=True))
    return pa.schema(fields, metadata={
        "table": "summary", "engine_version": __version__,
        "grain": "one row per (period, origin, destination, sector) plus sector ALL per pair; statistics "
                 "across draws; scenario is the hive partition key"})


SUMMARY_SCHEMA = _summary_schema()


def draws_field(name):
    """Schema field of a ``draws`` table column (its columns depend on the scenario)."""
    if name == "draw":
        return _KEYS[0]
    if name == "path":
        return _field("path", pa.string(), "branch path of the draw: branch=option pairs joined by ';'")
    if name == "failure":
        return pa.field(name, pa.string(), nullable=True, metadata={
            "description": "why the draw failed (its equilibrium did not converge; in ge, even with the "
                           "fallback solver); such a draw has no rows in the other tables; null: it succeeded"})
    if name.startswith("branch."):
        return pa.field(name, pa.string(), nullable=True, metadata={
            "description": f"option taken at branch point {name.removeprefix('branch.')} (null: not reached)"})
    if name.startswith("fx."):
        return pa.field(name, pa.float64(), nullable=True, metadata={
            "description": f"value of {name.split('.')[1]}'s currency in dollars in the last period (null: "
                           "no FX process in this scenario)", "unit": "baseline = 1"})
    return pa.field(name, pa.float64(), nullable=True, metadata={
        "description": f"sampled value of parameter {name} (null: not uncertain in this scenario)"})


def write_table(path, table):
    """Write one Parquet file (zstd) with the schema and its metadata."""
    pq.write_table(table, path, compression="zstd")
