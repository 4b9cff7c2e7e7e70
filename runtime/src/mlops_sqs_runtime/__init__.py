"""Lambda's SQS event-source mapping as a long-running process, for the worker images and the local
stack: the same handler functions as on Lambda, with its batch, partial-failure, redelivery and DLQ
semantics (`python -m mlops_sqs_runtime.runner`)."""
