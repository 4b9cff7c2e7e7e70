"""Test helpers shared by every test folder of the monorepo (development only, never shipped in an image).

- `servers`: pytest fixtures for a real PostgreSQL, the AWS emulator and Terraform's local stack
- `api_fixtures`: pytest fixtures for the live API (a server process on those two)
- `api`: helpers for tests that talk HTTP to the API
- `e2e_handlers`: stand-ins for the training and evaluation workers in end-to-end runs
- `simulated_bedrock`: a fake Bedrock runtime for the evaluation worker's tests and benchmark

The root conftest.py registers `servers` and `api_fixtures` as pytest plugins.
"""
