"""Credit scoring: application scorecard (WoE + logistic regression) and a GBM challenger.

Modules:

- :mod:`.dataset`   load and type a tabular credit data set (target, bad value, feature kinds)
- :mod:`.scorecard` OptBinning binning → WoE → selection → logistic regression → points
- :mod:`.gbm`       LightGBM challenger, calibrated PD, contribution-based reasons
- :mod:`.metrics`   AUC, Gini, KS, bootstrap intervals, decile/lift tables, calibration,
  PD shift to a target bad rate, PSI
- :mod:`.validation` out-of-time / stratified validation split, minimum bads
- :mod:`.development` labelled rows, excluded columns, split, fit, figures named by sample
- :mod:`.reject_inference` fuzzy augmentation and parcelling of declined applications
- :mod:`.fairness`  approval and bad rates by age band and sex, adverse-impact ratio
- :mod:`.artifact`  model directory (manifest + JSON/text model files, no pickle)
- :mod:`.report`    HTML + JSON report with Plotly figures
- :mod:`.cli`       ``creditpay model ...`` and ``creditpay bench ...`` commands

Heavy libraries (OptBinning, LightGBM, scikit-learn, Plotly) are imported inside the
functions that need them, so importing this package and scoring a loaded scorecard stay cheap.
"""
