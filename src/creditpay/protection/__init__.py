"""Consumer-protection rules: consent, disclosure (key facts), the right of withdrawal,
complaints and the rules of fair collections. They sit above credit (they read its products,
schedules and APRs) and below risk and payments (which apply them). See docs/architecture.md.
"""
