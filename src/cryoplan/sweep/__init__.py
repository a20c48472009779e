"""Uncertainty, sensitivity and cohort studies: many runs of one procedure or plan with some of
its inputs varied, on a dask cluster (``cryoplan sweep``, docs/sweep.md).

    study.py     the study file: base, varied keys and their distributions, sampling, outputs
    designs.py   sample designs (Monte Carlo, Latin hypercube, Sobol', Saltelli, grid) and the
                 distributions' quantile functions
    paths.py     keys into a procedure file, output paths into a result JSON
    task.py      one sample on a worker, through cryoplan.service
    cluster.py   the local or external dask cluster
    execute.py   submitting, streaming, saving and resuming
    table.py     the Parquet results table and its metadata
    output_stats.py  percentiles, Sobol' indices and rank correlations
    study_report.py  the HTML and JSON summary
"""
