"""A Spark local session for the `spark` dbt target, as tests and the benchmark run it.

dbt-spark's `method: session` uses the process's active SparkSession: whoever runs dbt in-process
(`dbtRunner`) creates it first, with its Hive metastore (Derby) and warehouse under `root` so
that nothing lands in the working directory. Sized for days of data on a 2-core machine.
Production uses a cluster (thrift or a Spark Connect server): docs/scale-out.md.
"""

from __future__ import annotations

from pathlib import Path


def local_session(root: Path, app_name: str = "runway-dbt-spark"):
    """The process's SparkSession (`local[2]`, Hive support), created on first call."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .enableHiveSupport()
        .config("spark.sql.warehouse.dir", str(root / "warehouse"))
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={root / 'metastore_db'};create=true",
        )
        # derby.log next to the metastore, not in the working directory.
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={root}")
        # Days of data, not years: 200 shuffle partitions would be 200 tiny tasks and files.
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "1g")
        # As the profile's server_side_parameters; set here too because the raw tables are
        # written before dbt first applies them.
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session
