# Shared fixtures for every test folder of the monorepo: a real PostgreSQL and the AWS emulator
# (mlops_devstack.testing), and the live API (services/api/tests/api_fixtures.py).
pytest_plugins = ["mlops_devstack.testing", "api_fixtures"]
