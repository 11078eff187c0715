"""Run an engine simulation on a SLURM cluster through dask-jobqueue.

Each SLURM job is one Dask worker process; each chunk of draws (``--draws-per-chunk``) is one
task that writes its own part files into the run folder, so the folder must be on a file system
that the compute nodes share with this script (home or project space, not /tmp).

Usage (on the login node, with ``pip install 'tradeflow-engine[dask]'``)::

    python slurm_dask.py --jobs 20 --draws 100000 --out /project/me/runs/big

If the script (or its allocation) dies, run it again with ``--resume``: complete chunks are kept.
Tested in the engine's test suite up to building the cluster object and its job script (CI has
no SLURM to submit to).
"""

import argparse


def make_cluster(queue=None, account=None, cores=4, memory="8GiB", walltime="01:00:00", local_directory=None):
    """A ``dask_jobqueue.SLURMCluster``: each job runs ``cores`` single-threaded worker processes
    (one chunk each at a time: more draws per second than one process with ``cores`` threads).

    Memory per job: ``cores`` times ``engine.runs.plan.memory_estimate`` (about 1 GiB per worker at the
    default 20,000 firms; the summary tasks at the end need about draws x 100 KB).
    """
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(queue=queue, account=account, cores=cores, processes=cores, memory=memory,
                        walltime=walltime, local_directory=local_directory,
                        job_script_prologue=["export NUMBA_NUM_THREADS=1"],
                        scheduler_options={"dashboard_address": ":0"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=["us_japan_2025"])
    parser.add_argument("--jobs", type=int, default=10, help="SLURM jobs (= Dask workers)")
    parser.add_argument("--cores", type=int, default=4, help="cores per job")
    parser.add_argument("--memory", default="16GiB")
    parser.add_argument("--walltime", default="01:00:00")
    parser.add_argument("--queue", default=None)
    parser.add_argument("--account", default=None)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--draws-per-chunk", type=int, default=20)
    parser.add_argument("--out", required=True)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    import engine

    cluster = make_cluster(args.queue, args.account, args.cores, args.memory, args.walltime)
    print(cluster.job_script())
    cluster.scale(jobs=args.jobs)
    try:
        result = engine.simulate(args.scenarios, draws=args.draws, draws_per_chunk=args.draws_per_chunk,
                                 out=args.out, resume=args.resume, scheduler=cluster.scheduler_address,
                                 threads=1, progress=True)
        print(result.path)
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
