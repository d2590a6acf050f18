"""Shared test settings.

Hypothesis: no per-example deadline (the machine is shared and timings are
noisy; speed is measured in benchmarks/, never asserted in tests), and a
derandomised profile for CI (HYPOTHESIS_PROFILE=ci) so a failure reproduces
run after run.
"""
import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis-based tests skip themselves
    settings = None

if settings is not None:
    settings.register_profile("default", deadline=None)
    settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
