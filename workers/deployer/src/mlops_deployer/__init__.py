"""The deployer: serves an approved registry package (issue #20), locally or on SageMaker."""
