"""Parties: customers, merchants, operators; their credentials, devices, cards and KYC."""
