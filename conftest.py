# Shared by every test folder of the monorepo (mlops_testkit): fixtures for a real PostgreSQL, the AWS
# emulator and Terraform's local stack (servers), the live API (api_fixtures), and each test's kind,
# unit / integration / e2e, for `pytest -m` (kinds). pytester runs tests/test_kinds.py's small trees.
pytest_plugins = ["mlops_testkit.servers", "mlops_testkit.api_fixtures", "mlops_testkit.kinds", "pytester"]
