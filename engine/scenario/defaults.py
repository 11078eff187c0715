"""Default parameters of the dynamic model (``engine.firms.bellman``), monthly, with their sources.

The literature reports annual moments; conversions to months are stated per entry. Values marked
"assumption" are stated choices, not estimates. data/README.md repeats this table.
"""

# Persistence and dispersion of firm productivity are identified by simulated moments
# (engine.firms.identification; reproduce with ``python data/identify_dynamics.py --check``): a panel of
# the engine's own firms in the default calibration's eight JPN -> USA cells is simulated by month
# and aggregated to years the way annual firm data are built (annual exports = sum of 12 months;
# exporter = exports in any month), and (rho, s_z) solve two annual moments of continuing
# exporters: the autocorrelation of log export sales, 0.85, and the sd of log export-sales growth,
# 0.5 (as commonly reported, not verified here; data/README.md "Dynamics parameters"). Monthly
# values follow by simulation and time aggregation, not by an analytic conversion.
#
# The third target, the US exporter exit rate of 17% a year (Alessandria, Choi & Ruhl 2021,
# verified in their replication files), cannot be reached in this model together with the other
# two: with them matched, exit is 5.5% a year at lambda = 0.1; removing the sunk cost (lambda = 1)
# at the same (rho, s_z) lifts it only to about 11% while the autocorrelation falls to 0.78 and the
# growth sd rises to 0.64; a joint fit of all three parameters runs to lambda = 1 and an annual
# persistence of 0.3 and still misses all three (exit 0.15, autocorrelation 0.75, growth sd 0.80).
# So lambda is not identified by these moments here and stays an assumption (below). Nor is the loss of
# export relationships (docs/model.md section 11.2): with the autocorrelation and the growth sd matched
# again, the exit rate stays at 5.5% for a monthly loss from 0 to 4% (exporters that lose a
# relationship mostly pay to enter again at once), so it is 0.

#: Annual-equivalent persistence ``rho ** 12`` of the monthly AR(1) ``z`` (identified).
ANNUAL_PERSISTENCE = 0.8003

#: Stationary standard deviation ``s_z`` of log productivity ``z``; sales move by ``(sigma - 1) z``
#: (identified at the calibration's sigma = 1.5: the moments fix the sales dispersion (sigma - 1) s_z = 0.650,
#: the same as at the former sigma = 2.63 with s_z = 0.3999).
PRODUCTIVITY_SD = 1.3008

#: The sales dispersion the moments identify, ``(sigma - 1) s_z`` at the default calibration's sigma = 1.5. The
#: default ``[dynamics] productivity_sd`` is this over ``sigma - 1`` of the run's calibration and draw
#: (``productivity_sd_for``), so the firms' sales process is the identified one whatever sigma is.
SALES_DISPERSION = 0.5 * PRODUCTIVITY_SD

#: Monthly continuation-to-entry cost ratio lambda (the convention of docs/model.md section 4: incumbents pay lambda F
#: a month, entrants F). Assumption, not identified (see above): entry costs about ten months of
#: continuation costs, within the range of sunk-to-fixed ratios estimated by Das, Roberts & Tybout
#: (2007).
DEFAULT_SUNK_COST_RATIO = 0.1

#: Annual moments at these values: mean and Monte Carlo sd over 8 panels of 10,000 firms per cell
#: (seeds 100-107): exit rate, autocorrelation of log annual export sales, sd of annual log
#: export-sales growth.
IDENTIFIED_MOMENTS = {"exit_rate": 0.0545, "sales_autocorrelation": 0.8445, "growth_sd": 0.4971}
IDENTIFIED_MOMENTS_SD = {"exit_rate": 0.0009, "sales_autocorrelation": 0.0018, "growth_sd": 0.0027}

DYNAMICS_DEFAULTS = {
    "persistence": ANNUAL_PERSISTENCE ** (1.0 / 12.0),
    "productivity_sd": None,  # SALES_DISPERSION / (sigma - 1): productivity_sd_for
    "grid_points": 9,
    # annual discount 0.96 (a 4% real rate) times annual survival of 92% (exporter death), monthly
    "discount": (0.96 * 0.92) ** (1.0 / 12.0),
    # fitted with sigma to the tariff evidence (BLP 2023's profile, the 2018-19 episode, the stopper
    # rate; prior 6-24 months; ``python data/identify_dynamics.py --elasticities``, docs/model.md section
    # 11.8): 9 months (the growth of new exporters over about five years, Ruhl & Willis 2017, suggested 18)
    "half_life": 9.0,
    # monthly probability that an exporter loses a destination (it keeps its productivity and pays the
    # entry cost again; docs/model.md section 11.2): not identified (with the autocorrelation and growth
    # sd matched, the exit rate stays at 5.5% for any loss from 0 to 4% a month), so 0
    "relationship_loss": 0.0,
    # median duration of US import prices about 10.6 months (Gopinath & Rigobon 2008, QJE):
    # a Calvo reset probability of 1 - 2 ** (-1 / 10.6) a month
    "price_reset": 1.0 - 2.0 ** (-1.0 / 10.6),
    # about 93% of US imports are invoiced in dollars (Gopinath 2015, "The International Price
    # System"); Japan's exports to the US about 85-90% (Japanese Ministry of Finance invoicing
    # statistics, as reported by Ito, Koibuchi, Sato & Shimizu 2018): 0.9 for every pair (assumption)
    "dollar_invoicing": 0.9,
    # importers' stock of a cell's goods, in months of its final sales (engine.firms.inventories): US
    # manufacturers hold about 1.5 months of sales (1 month and 4 days in 2005, 12 days more by 2019:
    # Carreras-Valle, "Increasing Inventories: The Role of Delivery Times", AEJ: Macro), and importers
    # hold substantially larger stocks of imported goods than of domestic ones (Alessandria, Kaboski &
    # Midrigan 2010, AER): 2 months (assumption within that range)
    "inventory_months": 2.0,
    # share of the gap to the target stock closed in a month: the rate of an (S, s) population that
    # orders about every three months. Imports are lumpy: about half of German firm-good-country import
    # pairs trade once or twice a year (Wagner 2016, Economics E-Journal), large importers more often;
    # per-shipment costs make shipments infrequent (Hornok & Koren 2015, REStat; Alessandria, Kaboski &
    # Midrigan 2010). Assumption within that range
    "inventory_adjustment": 1.0 / 3.0,
    # rise of the stock (in baseline stocks) per unit of expected monthly landed-cost growth
    # (docs/model.md section 11.9), calibrated: with it an announced permanent tariff change makes the
    # year-on-year elasticity of customs imports 56% larger than that of final sales in the year it
    # takes effect (Khan & Khederlarian 2021, JIE, NAFTA's announced phase-outs); reproduce with
    # ``python data/calibrate_inventories.py --check``
    "inventory_price_response": 3.09,
}


def productivity_sd_for(settings, sigma):
    """The stationary sd ``s_z`` of log productivity a run uses: ``[dynamics] productivity_sd`` when set,
    otherwise ``SALES_DISPERSION / (sigma - 1)`` at the mean of the sectors' ``sigma`` (one chain serves
    every sector of a draw; with one sigma, as in the shipped calibrations, the sales process is exactly
    the identified one)."""
    if settings.productivity_sd is not None:
        return float(settings.productivity_sd)
    import numpy as np

    return SALES_DISPERSION / (float(np.mean(sigma)) - 1.0)
