"""The packaged product catalogue (and the caps it was checked against), built once for the
test session: tests pass it to the credit services explicitly, as the bootstrap does for a
process (creditpay keeps no process-global catalogue). Tests that need other products or
caps build their own :class:`~creditpay.credit.products.Catalogue`."""

from __future__ import annotations

from creditpay.credit.products import Catalogue, load_catalogue

CATALOGUE: Catalogue = load_catalogue()
