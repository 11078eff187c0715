"""Default parameters of the dynamic model (``engine.dynamics``), monthly, with their sources.

The literature reports annual moments; conversions to months are stated per entry. Values marked
"assumption" are stated choices, not estimates. data/README.md repeats this table.
"""

#: Annual persistence of firm productivity 0.85 (Alessandria, Choi & Ruhl 2021 and Steinberg 2019
#: calibrate annual persistence of 0.8-0.9 to the autocorrelation of exporters' log sales), as a
#: monthly AR(1): 0.85 ** (1/12).
ANNUAL_PERSISTENCE = 0.85

#: Standard deviation of annual log export-sales growth of continuing exporters, about 0.5 (the
#: order reported by Fitzgerald, Haller & Yedid-Levi 2023 and Ruhl & Willis 2017). With annual
#: persistence ``r`` the growth variance of an AR(1) is ``2 s^2 (1 - r)`` in sales units
#: ``(sigma - 1) z``: s = 0.5 / sqrt(2 * 0.15) / (sigma - 1), sigma - 1 = 4 / 2.46.
ANNUAL_SALES_GROWTH_SD = 0.5

#: Monthly continuation-to-entry cost ratio lambda of the dynamic model (MODEL.md's convention:
#: incumbents pay lambda F a month, entrants F). Assumption: entry costs about ten months of
#: continuation costs, within the range of sunk-to-fixed ratios estimated by Das, Roberts & Tybout
#: (2007); ``engine diagnose`` prints the exit rate it implies.
DEFAULT_SUNK_COST_RATIO = 0.1

DYNAMICS_DEFAULTS = {
    "persistence": ANNUAL_PERSISTENCE ** (1.0 / 12.0),
    "productivity_sd": ANNUAL_SALES_GROWTH_SD / (2.0 * (1.0 - ANNUAL_PERSISTENCE)) ** 0.5 / (4.0 / 2.46),
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
