"""Adapter: the close of business on Apache Spark (issue #19 part 6).

``creditpay cob run --engine spark`` runs the close of business's pure steps
(:data:`creditpay.credit.cob_steps.STEPS`, unchanged) in Spark tasks partitioned by account,
reading each chunk from the database or from a Parquet snapshot
(``creditpay cob snapshot``), and writes the results back through the local engine's one
executor. See docs/spark.md. pyspark is imported only when a Spark session starts
(:func:`creditpay.spark.session.spark_session`).
"""
