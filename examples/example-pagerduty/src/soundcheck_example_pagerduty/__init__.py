"""soundcheck-example-pagerduty: the Soundcheck tutorial's ExamplePagerDutyFactCollector as a soundcheck plugin.

soundcheck finds it through the ``soundcheck.collectors`` entry point ``example-pagerduty`` (see pyproject.toml).
"""

from soundcheck_example_pagerduty.collector import ExamplePagerDutyFactCollector

__all__ = ["ExamplePagerDutyFactCollector"]
