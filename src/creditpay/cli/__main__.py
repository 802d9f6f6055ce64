"""``python -m creditpay.cli``: the same entry point as the ``creditpay`` command."""

from creditpay.cli import main

main()
