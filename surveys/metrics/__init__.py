"""Loyalty and survey metrics as pure functions (no database access).

* :mod:`surveys.metrics.formulas`: NPS, CSAT, CES, CLI, repurchase, upsell, retention,
  churn and historical CLV (standard library only).
* :mod:`surveys.metrics.clv`: predictive CLV with BG/NBD and Gamma-Gamma (numpy, scipy).
* :mod:`surveys.metrics.comparison`: a campaign's reached members against its holdout,
  differences with Welch and Newcombe intervals (scipy).

Import the submodules directly; this package does not re-export them so that the simple
formulas stay importable without numpy and scipy.
"""
