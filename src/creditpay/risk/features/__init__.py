"""Credit features declared once and computed by one code path, online and offline.

- :mod:`.declarations` what each feature is: name, source, kind, labels, look-back window
- :mod:`.compute`      the computation, point in time: an online decision and an offline
                       training set call the same functions, and only events strictly
                       before the as-of time are ever read
- :mod:`.platform`     the platform event table of one customer, from the payments and
                       parties domains' public reads
- :mod:`.synthetic`    a synthetic applicant population with known risk, for training and
                       tests of the decision path
"""

from creditpay.risk.features.compute import (
    EVENT_KINDS,
    FeatureInputs,
    PlatformEvent,
    build_training_set,
    compute_features,
    events_by_customer,
    normalise_events,
)
from creditpay.risk.features.declarations import FEATURES, FeatureDefinition, feature

__all__ = [
    "EVENT_KINDS",
    "FEATURES",
    "FeatureDefinition",
    "FeatureInputs",
    "PlatformEvent",
    "build_training_set",
    "compute_features",
    "events_by_customer",
    "feature",
    "normalise_events",
]
