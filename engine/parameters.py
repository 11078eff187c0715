"""Default parameters of the dynamic model (``engine.dynamics``), monthly, with their sources.

The literature reports annual moments; conversions to months are stated per entry. Values marked
"assumption" are stated choices, not estimates. data/README.md repeats this table.
"""

# Identified jointly by simulated moments (engine.identification; reproduce with
# ``python data/identify_dynamics.py --check``) from three annual moments of exporters, computed
# from the simulated monthly panel the way the literature computes them from annual data (annual
# exports = sum of 12 months; exporter = exports in any month): the exporter exit rate 0.17 (US
# plants; Alessandria, Choi & Ruhl 2021, verified in their replication files), the
# autocorrelation of log annual export sales 0.85 and the sd of annual log export-sales growth 0.5
# (as commonly reported, not verified here). Monthly values follow by simulation and time
# aggregation, not by an analytic conversion. The three targets cannot all be met in this model:
# the cross-sectional sd of log exporter sales is pinned near 0.7 by theta / (sigma - 1) = 2.46 and
# EKK's cost shock, and the autocorrelation is about 1 - g^2 / (2 var), so a growth sd g = 0.5 comes
# with an autocorrelation near 0.7, not 0.85. The solution minimises the weighted relative misses
# (the verified exit rate weighted 3, the others 1); IDENTIFIED_MOMENTS are its moments.

#: Annual-equivalent persistence ``rho ** 12`` of the monthly AR(1) ``z``.
ANNUAL_PERSISTENCE = 0.898

#: Stationary standard deviation ``s_z`` of log productivity ``z`` (sales move by ``(sigma - 1) z``).
PRODUCTIVITY_SD = 0.497

#: Monthly continuation-to-entry cost ratio lambda (MODEL.md's convention: incumbents pay lambda F
#: a month, entrants F).
DEFAULT_SUNK_COST_RATIO = 0.700

#: Annual moments at the identified values (seed 20251, 10000 firms, 10 years): exit rate,
#: autocorrelation of log annual export sales, sd of annual log export-sales growth.
IDENTIFIED_MOMENTS = {"exit_rate": 0.163, "sales_autocorrelation": 0.613, "growth_sd": 0.666}
IDENTIFIED_MOMENTS_SD = {"exit_rate": 0.01, "sales_autocorrelation": 0.01, "growth_sd": 0.01}

DYNAMICS_DEFAULTS = {
    "persistence": ANNUAL_PERSISTENCE ** (1.0 / 12.0),
    "productivity_sd": PRODUCTIVITY_SD,
    "grid_points": 9,
    # annual discount 0.96 (a 4% real rate) times annual survival of 92% (exporter death), monthly
    "discount": (0.96 * 0.92) ** (1.0 / 12.0),
    # new exporters keep growing for about five years (Ruhl & Willis 2017; Fitzgerald, Haller &
    # Yedid-Levi 2023): 90% of the gap closed in 60 months, half-life 60 ln 2 / ln 10 months
    "half_life": 60.0 * 0.6931471805599453 / 2.302585092994046,
    # median duration of US import prices about 10.6 months (Gopinath & Rigobon 2008, QJE):
    # a Calvo reset probability of 1 - 2 ** (-1 / 10.6) a month
    "price_reset": 1.0 - 2.0 ** (-1.0 / 10.6),
    # about 93% of US imports are invoiced in dollars (Gopinath 2015, "The International Price
    # System"); Japan's exports to the US about 85-90% (Japanese Ministry of Finance invoicing
    # statistics, as reported by Ito, Koibuchi, Sato & Shimizu 2018): 0.9 for every pair (assumption)
    "dollar_invoicing": 0.9,
}
