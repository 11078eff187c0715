"""Problem sizes and inputs of the kernel benchmarks."""

import numpy as np

#: The engine's default draw: 10 regions x 8 sectors, 20,000 simulated firms, 10 destinations.
DEFAULT_DRAW = dict(blocks=80, firms=20_000, dest=10)
#: What every benchmark runs when benchmarks are disabled.
TINY = dict(blocks=4, firms=600, dest=3)


class Problem:
    """Inputs of ``direct_cell_sums``/``rank_cells`` for ``blocks`` x ``firms`` x ``dest``.

    Parameters are the default calibration's ((sigma - 1) / theta = 1 / 2.46, shock sd 1.69 and 0.34,
    correlation -0.65, docs/model.md section 2 and data/default/sectors.csv); thresholds are drawn so that cells
    range from a few percent of firms active to most of them (the kernels are branch-free, so the
    time does not depend on the share). Real firms per block are log-uniform from 0.75 to 60 times
    the simulated ones (the default calibration's range: 15,000 to 1.1 million real firms for 20,000
    simulated), so most blocks have stratified weights and a few equal ones; ``strata`` are theirs
    (``engine.firms.sampling.block_strata``).
    """

    def __init__(self, blocks, firms, dest, seed=2025):
        import kernels
        from engine.firms.sampling import block_strata

        rng = np.random.default_rng(seed)
        self.blocks, self.firms, self.dest = blocks, firms, dest
        self.evaluations = blocks * firms * dest
        self.productivity_keys = kernels.block_keys(np.uint64(seed), 0, blocks)
        self.shock_keys = kernels.block_keys(np.uint64(seed + 1), 0, blocks)
        self.sm1_over_theta = np.full(blocks, 1.0 / 2.46)
        self.s_a = np.full(blocks, 1.69)
        self.s_e = np.full(blocks, 0.34)
        self.rho = np.full(blocks, -0.65)
        self.thresholds = rng.uniform(-1.0, 4.0, (blocks, dest))
        self.real_firms = np.round(firms * np.exp(rng.uniform(np.log(0.75), np.log(60.0), blocks)))
        self.strata = block_strata(self.real_firms, firms, self.s_a)

    def params(self):
        """The arguments before the thresholds: keys, parameters, firms and strata."""
        return (self.productivity_keys, self.shock_keys, self.sm1_over_theta, self.s_a, self.s_e, self.rho,
                self.firms, *self.strata)
