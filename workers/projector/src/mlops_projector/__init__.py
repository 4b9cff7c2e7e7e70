"""The projector: the workflow's facts on the bus become run statuses and timeline steps."""
