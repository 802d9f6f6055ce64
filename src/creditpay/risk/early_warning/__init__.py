"""Risk early warning: portfolio monitors with dynamic thresholds, alerts and playbooks."""
