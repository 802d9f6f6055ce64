"""Reporting above all domains: regulatory reports, provisions, the data subject's export and
erasure, and data sharing with partners. Reads and erases only through each domain's own
public functions. See docs/architecture.md.
"""
