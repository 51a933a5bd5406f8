"""The constants of the customer-value figures per member (docs/metrics.md, "Predictive figures").

The nightly fit (``surveys.services.member_value``) uses them, and the dashboard states
them; this module imports nothing, so the dashboard does not load numpy and scipy.
"""

HORIZON_MONTHS = 12  # predicted CLV and expected purchases cover the next 12 months
MONTHLY_DISCOUNT_RATE = 0.01  # purchases in month k are discounted by 1.01 ** -k
DAYS_PER_MONTH = 365.25 / 12  # the fit counts in days

# Below either minimum the fit is flagged "too small to trust" (rules of thumb, not from
# the papers: four BG/NBD parameters from the customers, three Gamma-Gamma parameters
# from the repeat customers).
MIN_CUSTOMERS = 100
MIN_REPEAT_CUSTOMERS = 30
