"""The simulated economy (issue #7): consumers and merchants who act through the real services.

``population`` draws who they are, ``behaviour`` decides what they do on a business day (pure
functions of a seeded random stream), ``economy`` runs the days through the services with a
simulated business clock and a close of business each night, ``report`` turns the result into
figures, a table and an HTML report.
"""

__all__ = ["population", "behaviour", "economy", "report"]
