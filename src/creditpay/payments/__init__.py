"""Payments: wallets, card rail simulator, payment intents, checkout, refunds, settlement,
QR codes and merchant webhooks."""
