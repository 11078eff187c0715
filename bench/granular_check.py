"""Issue 19 must-show check (not a test): how far the no-policy path moves domestic cells, 8 draws x 24
months of the default run, at 2,000 and 20,000 firms per block. Run: python bench/granular_check.py LABEL."""
import sys, engine, numpy as np, polars as pl
label = sys.argv[1]
for firms in (2000, 20000):
    r = engine.simulate(draws=8, firms=firms, out=f'/tmp/noise_{label}_{firms}', overwrite=True, seed=2025, progress=False)
    f = r.scan('flows').filter(pl.col('origin') == pl.col('destination')).select(
        'draw', 'period', 'origin', 'sector', 'exports_no_policy').collect()
    wide = f.sort('draw', 'origin', 'sector', 'period')
    x = wide['exports_no_policy'].to_numpy().reshape(8, -1, wide['period'].n_unique())  # draw, cell, period
    change = x / x[..., :1] - 1
    last = change[..., -1]
    print(label, firms, 'max |move| %.1f%%' % (100 * np.abs(change).max()), 'sd of 24-month change (pooled) %.2f%%'
          % (100 * last.std()), 'cells>5%% at some month: %d of %d' % ((np.abs(change) > 0.05).any(axis=-1).sum(), last.size), flush=True)
