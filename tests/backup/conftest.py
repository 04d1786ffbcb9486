"""The backup tests share the cluster tests' module-scoped stack and their log capture."""

from tests.cluster.conftest import ha_cluster, pytest_runtest_makereport

__all__ = ["ha_cluster", "pytest_runtest_makereport"]
