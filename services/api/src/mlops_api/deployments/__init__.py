"""Deployments: which approved package version serves each model (issue #20)."""
