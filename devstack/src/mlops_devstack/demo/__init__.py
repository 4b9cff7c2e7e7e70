"""`make demo`: the newcomer's path end to end on the local stack. The sample datasets and the offline
tiny model go through a real LoRA fine-tune, the offline RAGAS judge, a person's approval (an
approver key) and the registry's `Approved` + `deployment_status=go_prod`, with a live view of the run
and the time each phase took.

`flow.run_demo` is the path itself (HTTP only, also driven by the tests); `cli.main` adds the stack
(attached or started), the keys and the report."""
