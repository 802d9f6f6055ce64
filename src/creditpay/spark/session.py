"""The Spark session of the Spark engine: started lazily, once per process.

Local mode (``local[2]``, this machine's two cores) unless ``CREDITPAY_SPARK_MASTER`` names a
cluster; Arrow on (the partitions cross the Python/JVM boundary as Arrow batches); the UI
and the console progress bar off; logs at error level once the session is up (the JVM's own
start prints a few lines on stderr before that). Nothing imports pyspark
until :func:`spark_session` is called: importing creditpay never starts a JVM.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from creditpay.config import Settings

__all__ = ["spark_session", "stop_spark_session", "spark_running", "java_missing"]

_SESSION: SparkSession | None = None
_SOURCE_ROOT = str(Path(__file__).resolve().parent.parent.parent)


def java_missing() -> str | None:
    """Why Spark cannot start here (no Java 17+ runtime), or None."""
    import re
    import shutil
    import subprocess  # nosec B404 - runs the local java binary to read its version

    java = shutil.which("java")
    if java is None:
        return "no java runtime: run scripts/ensure-system-deps.sh (openjdk-17-jre-headless)"
    probe = subprocess.run([java, "-version"], capture_output=True, text=True,  # nosec B603
                           check=False, timeout=30)
    found = re.search(r'version "(?:1\.)?(\d+)', probe.stderr + probe.stdout)
    if found is None or int(found.group(1)) < 17:
        return ("Spark needs Java 17 or later: run scripts/ensure-system-deps.sh"
                " (openjdk-17-jre-headless)")
    return None


def spark_session(settings: Settings | None = None) -> SparkSession:
    """The process's Spark session, started on first use from ``settings``
    (``spark_master``, ``spark_conf``)."""
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    from pyspark.sql import SparkSession

    from creditpay.config import Settings

    settings = settings or Settings.from_env()
    master = settings.spark_master
    if master.startswith("local"):
        # pyspark starts its Python workers with the interpreter PYSPARK_PYTHON names
        # (python3 when unset): this one, with its virtual environment's packages.
        os.environ.update(PYSPARK_PYTHON=sys.executable)
    builder = (SparkSession.builder.appName("creditpay-cob").master(master)
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "8")
               .config("spark.pyspark.python", sys.executable)
               .config("spark.pyspark.driver.python", sys.executable))
    if master.startswith("local"):
        # ... and this creditpay (a source checkout included) on their path.
        builder = builder.config("spark.executorEnv.PYTHONPATH", _SOURCE_ROOT)
    for key, value in settings.spark_conf.items():
        builder = builder.config(key, value)
    with quiet_pandas_warning():
        _SESSION = builder.getOrCreate()
    _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


@contextlib.contextmanager
def quiet_pandas_warning() -> Iterator[None]:
    """pyspark 4.x warns on each Arrow job that pandas 3 is newer than it knows; the engine
    moves Arrow batches of bytes, with no pandas conversion: that warning is noise here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                                category=FutureWarning)
        yield


def spark_running() -> bool:
    """Whether this process has started its Spark session."""
    return _SESSION is not None


def stop_spark_session() -> None:
    """Stop the process's Spark session (and its JVM's work), if one was started."""
    global _SESSION
    if _SESSION is not None:
        _SESSION.stop()
        _SESSION = None
