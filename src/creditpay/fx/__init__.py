"""Foreign exchange (issue #21): mid rates from a rate source, per-pair markups and limits as
versioned data, quotes locked for 30 minutes and used once, and the daily FX position with
its revaluation. See docs/fx.md.

Layer: above ``parties`` and below ``credit`` (it imports the kernel, db, platform, ledger and
parties; payments, reporting, the API and the command line import it). It owns the tables of
:mod:`creditpay.fx.tables`.
"""
