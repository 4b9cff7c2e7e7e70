"""Our one extension of moto: the gaps of moto 5.2.5 that the platform needs
(docs/decisions/0010-emulator.md).

1. Step Functions `ValidateStateMachineDefinition` and `ListStateMachineVersions`, which Terraform's
   `aws_sfn_state_machine` calls (at plan time and after each create/update): the first answers with
   the verdict of the ASL parser that CreateStateMachine uses, the second lists the published versions
   moto already keeps.
2. EventBridge targets that moto does not deliver to, which make the whole PutEvents fail with 500:
   - Step Functions state machines: StartExecution with the (input-transformed) event as input. The
     execution is named from the event (`run-<detail.run_id>-<event id>`, or the event id), so a
     redelivered event does not start a second release and `$$.Execution.Name` is set;
   - SNS topics: Publish of the event as the message.
   A delivery that fails goes to the target's dead-letter queue when it has one, as on AWS; PutEvents
   itself still succeeds.
3. SageMaker UpdateModelPackage changes only what the call names: moto replaced the package's
   CustomerMetadataProperties with the call's (and cleared the approval status and description when
   absent); AWS merges the properties (CustomerMetadataPropertiesToRemove removes). The release
   workflow writes its verdict there, since package versions take no tags (strict mode refuses them).
4. SQS returns a queue's RedrivePolicy as compact JSON, as AWS does: moto's `{"a": 1}` spacing makes
   Terraform see a change on every plan (and wait for it to propagate, 25 s a queue).
5. A task token answered before its task waits for it. A `.waitForTaskToken` task with
   HeartbeatSeconds sends its message, and only then sets up the heartbeat it waits on; a worker
   fast enough to call SendTaskSuccess in between had its outcome stored but no heartbeat woken, so
   the task slept until the heartbeat timed out and then failed a run that had succeeded (seen in
   about one run in 300 of `bench/workflow_latency.py`). The heartbeat now starts awake when the
   outcome is already there.
6. Strict mode (`mlops_devstack.strict`), always on: a request to a service the platform calls is
   checked against botocore's model and the documented cross-field rules before moto sees it, and
   refused as AWS refuses it (ValidationException, 400, naming the member). The emulator of `make dev`
   and of the tests is the same `Emulator`, so both are strict.
7. StopExecution aborts the execution, as on AWS: DescribeExecution says ABORTED with the stop date at
   once, the task waiting for its token stops waiting, and an answer on that token is refused. moto
   only flagged its interpreter, so the execution stayed RUNNING and kept waiting.
8. SageMaker StopTrainingJob, which moto lacks (cancelling a run stops its job): a job in progress
   is Stopped, one that ended is refused and an unknown one is not found, as on AWS.
9. Task-token calls answered as AWS answers them. moto raised its TaskTimedOut/TaskDoesNotExist
   without the message they require, so SendTaskSuccess/Failure on the token of a task that had
   timed out, or of a stopped execution, answered HTTP 500 (the API turned a reject into a 503);
   it also took a second answer on a task already answered (and one for an ended execution) as if
   the task were open, and SendTaskFailure dropped its `cause`. Now an unknown token is
   `InvalidToken`, a closed task (answered, timed out, its execution ended) `TaskTimedOut`, an
   output that is not JSON `InvalidOutput` - all 400 - and the cause reaches the state's error.
10. Step Functions puts "Step Functions Execution Status Change" on the account's default event bus
   when an execution ends (SUCCEEDED, FAILED, TIMED_OUT, ABORTED), as AWS does: the platform's rule
   that stops the training job of a failed or stopped run listens for it. moto put nothing.
11. SageMaker Search applies every filter of its SearchExpression, as AWS does ("all filters" unless
   `Operator: Or`): moto's returned at the first matching `Tags.` filter, ignoring the others, so
   a search for a run's jobs `InProgress` found its stopped ones too.

Each fix is written as the change moto itself would take (a backend/response method, a target kind),
installed by `install()` on the classes moto serves from. It touches moto's internals, so moto is pinned
to the one version it was written against and `install()` refuses any other.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

SUPPORTED_MOTO_VERSION = "5.2.5"

_installed = False
_install_lock = threading.Lock()


class UnsupportedMotoVersion(RuntimeError):
    pass


def install() -> None:
    """Install the fixes into moto (idempotent). Raises UnsupportedMotoVersion on any moto
    other than SUPPORTED_MOTO_VERSION."""
    global _installed
    with _install_lock:
        if _installed:
            return
        check_moto_version()
        _install_state_machine_actions()
        _install_event_targets()
        _install_model_package_update_merges()
        _install_compact_redrive_policy()
        _install_early_callback_wakes_heartbeat()
        _install_strict_mode()
        _install_stop_execution_aborts()
        _install_stop_training_job()
        _install_task_token_answers()
        _install_search_applies_every_filter()
        _install_update_endpoint()
        _installed = True  # 10 rides on 7's status fix (put_status_change_event)


def check_moto_version() -> str:
    import moto

    version = str(moto.__version__)
    if version != SUPPORTED_MOTO_VERSION:
        raise UnsupportedMotoVersion(
            f"mlops_devstack.moto_ext was written against moto {SUPPORTED_MOTO_VERSION} and patches its "
            f"internals, but moto {version} is installed. Pin moto=={SUPPORTED_MOTO_VERSION} "
            "(devstack/pyproject.toml) or re-check every fix of moto_ext against the new version."
        )
    return version


################################################################################
# 1. Step Functions: ValidateStateMachineDefinition, ListStateMachineVersions
################################################################################


def validate_state_machine_definition(definition: str) -> dict[str, Any]:
    """The ValidateStateMachineDefinition answer for `definition` (result OK or FAIL + diagnostics)."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import (
        AmazonStateLanguageParser,
        ASLParserException,
    )

    diagnostics: list[dict[str, Any]] = []
    try:
        json.loads(definition)
    except (TypeError, ValueError) as exc:
        diagnostics.append(
            {"severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": f"Invalid JSON: {exc}"}
        )
    else:
        try:
            AmazonStateLanguageParser.parse(definition)
        except ASLParserException as exc:
            diagnostics.append({"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": str(exc)})
        except Exception as exc:  # the parser raises plain errors for many invalid definitions
            diagnostics.append(
                {
                    "severity": "ERROR",
                    "code": "SCHEMA_VALIDATION_FAILED",
                    "message": f"{type(exc).__name__}: {exc}",
                }
            )
    return {"result": "FAIL" if diagnostics else "OK", "diagnostics": diagnostics, "truncated": False}


def list_state_machine_versions(
    state_machine: Any, max_results: int | None = None, next_token: str | None = None
) -> dict[str, Any]:
    """The ListStateMachineVersions answer for a moto state machine: newest version first."""
    versions = sorted(state_machine.versions.values(), key=lambda v: v.version, reverse=True)
    start = int(next_token) if next_token and next_token.isdigit() else 0
    end = start + max_results if max_results else len(versions)
    answer: dict[str, Any] = {
        "stateMachineVersions": [
            {"stateMachineVersionArn": v.arn, "creationDate": v.creation_date} for v in versions[start:end]
        ]
    }
    if end < len(versions):
        answer["nextToken"] = str(end)
    return answer


def _install_state_machine_actions() -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def validate_state_machine_definition_action(self: Any) -> Any:
        return ActionResult(validate_state_machine_definition(self._get_param("definition")))

    def list_state_machine_versions_action(self: Any) -> Any:
        state_machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
        return ActionResult(
            list_state_machine_versions(
                state_machine, self._get_int_param("maxResults"), self._get_param("nextToken")
            )
        )

    validate_state_machine_definition_action.__name__ = "validate_state_machine_definition"
    list_state_machine_versions_action.__name__ = "list_state_machine_versions"
    # moto dispatches an action to the response method of the same (snake_case) name.
    response_class: Any = StepFunctionResponse
    response_class.validate_state_machine_definition = validate_state_machine_definition_action
    response_class.list_state_machine_versions = list_state_machine_versions_action


################################################################################
# 2. EventBridge: Step Functions and SNS targets
################################################################################

_EXECUTION_NAME_MAX = 80
_EXECUTION_NAME_INVALID = re.compile(r"[^A-Za-z0-9_-]")


def execution_name(event: dict[str, Any]) -> str:
    """A valid, deterministic execution name for `event`: `run-<detail.run_id>-<event id>` when the
    detail has a run_id, else the event id."""
    event_id = str(event.get("id") or "")
    detail = event.get("detail")
    run_id = detail.get("run_id") if isinstance(detail, dict) else None
    name = f"run-{run_id}-{event_id}" if run_id is not None and event_id else event_id or f"run-{run_id}"
    name = _EXECUTION_NAME_INVALID.sub("-", name)
    return name[:_EXECUTION_NAME_MAX]


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What a target receives for `event`: the constant `Input`, the part selected by `InputPath`,
    the `InputTransformer`'s output, or the whole event - as EventBridge does. Times are ISO-8601."""
    from moto.events.utils import EventTemplateParser

    if target.get("Input"):
        return json.loads(target["Input"])
    if target.get("InputPath"):
        from jsonpath_ng.ext.parser import parse

        matches = parse(target["InputPath"]).find(_with_iso_time(event))
        return matches[0].value if matches else None
    transformer = target.get("InputTransformer") or {}
    transformed = EventTemplateParser.parse(
        input_template=transformer.get("InputTemplate") or "",
        input_paths_map=transformer.get("InputPathsMap", {}),
        event=event,  # type: ignore[arg-type]
    )
    return _with_iso_time(transformed) if isinstance(transformed, dict) else transformed


def _with_iso_time(event: dict[str, Any]) -> dict[str, Any]:
    from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp

    if isinstance(event.get("time"), (int, float)):
        event = dict(event)
        event["time"] = iso_8601_datetime_without_milliseconds(utcfromtimestamp(int(event["time"])))
    return event


def _as_text(payload: Any) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload)


def _start_execution(target: dict[str, Any], event: dict[str, Any], payload: Any) -> None:
    from moto.stepfunctions.responses import get_backend
    from moto.utilities.arns import parse_arn

    arn = parse_arn(target["Arn"])
    backend = get_backend(arn.account, arn.region)
    execution = backend.start_execution(target["Arn"], execution_name(event), _as_text(payload))
    log.debug("event %s started execution %s", event.get("id"), execution.execution_arn)


def _publish(target: dict[str, Any], event: dict[str, Any], payload: Any) -> None:
    from moto.sns.models import sns_backends
    from moto.utilities.arns import parse_arn

    arn = parse_arn(target["Arn"])
    sns_backends[arn.account][arn.region].publish(message=_as_text(payload), arn=target["Arn"])


# Target kinds this extension delivers, by the service of the target ARN.
DELIVERERS: dict[str, Callable[[dict[str, Any], dict[str, Any], Any], None]] = {
    "states": _start_execution,
    "sns": _publish,
}


def _target_service(target: dict[str, Any]) -> str:
    parts = str(target.get("Arn", "")).split(":")
    return parts[2] if len(parts) > 2 else ""


def _dead_letter(rule: Any, target: dict[str, Any], event: dict[str, Any], error: Exception) -> None:
    """Send an event that could not be delivered to the target's DLQ, with EventBridge's attributes."""
    from moto.sqs.models import sqs_backends
    from moto.utilities.arns import parse_arn

    dlq_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not dlq_arn:
        return
    dlq = parse_arn(dlq_arn)
    attributes = {
        "RULE_ARN": {"DataType": "String", "StringValue": rule.arn},
        "TARGET_ARN": {"DataType": "String", "StringValue": target["Arn"]},
        "ERROR_CODE": {"DataType": "String", "StringValue": type(error).__name__},
        "ERROR_MESSAGE": {"DataType": "String", "StringValue": str(error)[:1024] or "-"},
    }
    sqs_backends[dlq.account][dlq.region].send_message(
        queue_name=dlq.resource_id,
        message_body=json.dumps(_with_iso_time(event)),
        message_attributes=attributes,
    )


def deliver(rule: Any, target: dict[str, Any], event: dict[str, Any], transform_input: bool = True) -> bool:
    """Deliver `event` to one Step Functions or SNS `target` of `rule`. A failure is logged and the
    event goes to the target's DLQ, if any; it never fails the PutEvents call. True when delivered."""
    deliverer = DELIVERERS[_target_service(target)]
    event.setdefault("ingestion-time", event.get("time") or 0)
    try:
        payload = target_input(target, event) if transform_input else _with_iso_time(event)
        deliverer(target, event, payload)
        return True
    except Exception as exc:
        log.warning(
            "EventBridge rule %s could not deliver event %s to %s: %s",
            rule.name,
            event.get("id"),
            target.get("Arn"),
            exc,
        )
        try:
            _dead_letter(rule, target, event, exc)
        except Exception as dlq_error:
            log.warning("and could not send it to the target's dead-letter queue: %s", dlq_error)
        return False


def _install_event_targets() -> None:
    from moto.events.models import Rule

    moto_send_to_targets = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        ours = [t for t in self.targets if _target_service(t) in DELIVERERS]
        if not ours:
            moto_send_to_targets(self, original_event, transform_input)
            return
        if not self.event_pattern.matches_event(original_event):
            return
        others = [t for t in self.targets if _target_service(t) not in DELIVERERS]
        if others:
            # moto delivers the kinds it knows; a shallow copy of the rule carries only those targets.
            rule_for_moto = copy.copy(self)
            rule_for_moto.targets = others
            moto_send_to_targets(rule_for_moto, original_event, transform_input)
        for target in ours:
            deliver(self, target, dict(original_event), transform_input)

    send_to_targets.__doc__ = moto_send_to_targets.__doc__
    rule_class: Any = Rule
    rule_class.send_to_targets = send_to_targets


################################################################################
# 3. SageMaker: UpdateModelPackage merges, as AWS does
################################################################################


def _install_model_package_update_merges() -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    moto_update_model_package = SageMakerModelBackend.update_model_package

    def update_model_package(
        self: Any,
        model_package_arn: str,
        model_approval_status: str | None,
        approval_description: str | None,
        customer_metadata_properties: dict[str, str] | None,
        customer_metadata_properties_to_remove: list[str],
        additional_inference_specifications_to_add: list[Any] | None,
    ) -> str:
        package = self.model_packages.get(
            self.model_package_name_mapping.get(model_package_arn, model_package_arn)
        )
        if package is not None:
            if model_approval_status is None:
                model_approval_status = package.model_approval_status
            if approval_description is None:
                approval_description = package.approval_description
            customer_metadata_properties = {
                **(package.customer_metadata_properties or {}),
                **(customer_metadata_properties or {}),
            }
        return str(
            moto_update_model_package(
                self,
                model_package_arn,
                model_approval_status,
                approval_description,
                customer_metadata_properties,
                customer_metadata_properties_to_remove,
                additional_inference_specifications_to_add,
            )
        )

    backend_class: Any = SageMakerModelBackend
    backend_class.update_model_package = update_model_package


################################################################################
# 4. SQS: RedrivePolicy as AWS serialises it
################################################################################


def _install_compact_redrive_policy() -> None:
    from moto.sqs.models import Queue

    moto_attributes = Queue.attributes

    def attributes(self: Any) -> dict[str, Any]:
        result: dict[str, Any] = moto_attributes.fget(self)  # type: ignore[attr-defined]
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        return result

    queue_class: Any = Queue
    queue_class.attributes = property(attributes)


################################################################################
# 5. Step Functions: a task token answered before the heartbeat wait is set up
################################################################################


def _install_early_callback_wakes_heartbeat() -> None:
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, HeartbeatEndpoint

    moto_setup_heartbeat_endpoint = CallbackEndpoint.setup_heartbeat_endpoint

    def setup_heartbeat_endpoint(self: Any, heartbeat_seconds: int) -> HeartbeatEndpoint:
        heartbeat = moto_setup_heartbeat_endpoint(self, heartbeat_seconds)
        # `notify` stores the outcome and then wakes the heartbeat it finds; here the heartbeat is
        # stored and then the outcome read: whichever runs second sees the other's write.
        if self.get_outcome() is not None:
            heartbeat.notify()  # type: ignore[no-untyped-call]
        return heartbeat

    endpoint_class: Any = CallbackEndpoint
    endpoint_class.setup_heartbeat_endpoint = setup_heartbeat_endpoint


################################################################################
# 6. Strict mode: requests checked as AWS checks them
################################################################################


def strict_check(response: Any) -> list[str]:
    """The violations of the request `response` (a moto response object set up with its request)
    is about to serve; empty when it is valid or its service is not one the platform calls."""
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.request import determine_request_protocol
    from moto.core.utils import get_service_model

    from mlops_devstack import strict

    service = response.boto3_service_name
    if service not in strict.STRICT_SERVICES:
        return []
    action = response._get_action()
    if not action:
        return []
    request = response.normalized_request
    service_model = get_service_model(service)
    if action not in service_model.operation_names:
        return []  # moto's own actions; AWS would answer UnknownOperation, moto answers it as well
    operation = service_model.operation_model(action)
    try:
        protocol = determine_request_protocol(service_model, request.content_type)
        params = PROTOCOL_PARSERS[protocol](operation).parse(
            {
                "method": request.method,
                "values": request.values,
                "headers": request.headers,
                "body": request.data,
                "url_path": request.path,
                "url_params": getattr(response, "uri_match", None) or {},
            }
        )
    except Exception as exc:  # a request moto's parser cannot read is moto's to answer, as before
        log.warning("strict mode could not read %s %s: %s", service, action, exc)
        return []
    return strict.violations(service, operation, _plain(params))


def _plain(value: Any) -> Any:
    """The parser's mappings (moto's XFormedDict for query protocols) as plain dicts and lists."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _install_strict_mode() -> None:
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult, BaseResponse

    from mlops_devstack import strict

    class ValidationException(ServiceException):
        code = "ValidationException"

    moto_call_action = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        found = strict_check(self)
        if not found:
            return moto_call_action(self)
        log.info("strict mode refused %s %s: %s", self.boto3_service_name, self._get_action(), found)
        _, headers, body = self.serialized(ActionResult(ValidationException(strict.message(found))))
        headers["status"] = "400"
        headers, body = self._enrich_response(headers, body)  # the request id, as on every answer
        return 400, headers, body

    call_action.__doc__ = moto_call_action.__doc__
    response_class: Any = BaseResponse
    response_class.call_action = call_action
    _install_strict_s3()


def _install_strict_s3() -> None:
    """S3 does not go through BaseResponse.call_action: moto's S3Response serves buckets and keys
    itself, and answers the S3ClientError its handlers raise. S3 answers an invalid parameter with
    InvalidArgument (400), not ValidationException."""
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    from mlops_devstack import strict

    def checked(moto_handler: Callable[..., Any]) -> Callable[..., Any]:
        def handler(self: Any, request: Any, full_url: str) -> Any:
            found = strict_check(self)
            if found:
                log.info("strict mode refused s3 %s: %s", self._get_action(), found)
                raise S3ClientError("InvalidArgument", strict.message(found))
            return moto_handler(self, request, full_url)

        handler.__name__ = moto_handler.__name__
        return handler

    s3_class: Any = S3Response
    s3_class._bucket_response = checked(S3Response._bucket_response)
    s3_class._key_response = checked(S3Response._key_response)


################################################################################
# 7. Step Functions: StopExecution aborts the execution
################################################################################


# StopExecution's error and cause by execution ARN, from the request to the execution it stops.
_STOP_REASONS: dict[str, tuple[str | None, str | None]] = {}


def _install_stop_execution_aborts() -> None:
    """moto's StopExecution only flagged the interpreter: DescribeExecution kept saying RUNNING and a
    task waiting for its token went on waiting (and accepted the answer) until its heartbeat or
    timeout. On AWS the execution is ABORTED at once, with its stop date, and its tokens are dead."""
    from moto.stepfunctions.parser.api import ExecutionStatus, HistoryEventType
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackConsumerTimeout
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
    from moto.stepfunctions.responses import StepFunctionResponse

    moto_stop = Execution.stop
    moto_reflect_execution_status = BaseExecutionWorkerCommunication._reflect_execution_status
    moto_add_event = EventManager.add_event
    moto_set_error = Environment.set_error

    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        if self.exec_status != ExecutionStatus.RUNNING:
            return  # an ended execution keeps its status and stop date
        moto_stop(self, stop_date=stop_date, error=error, cause=cause)
        self.exec_status = ExecutionStatus.ABORTED
        self.stop_date = stop_date
        # moto's StopExecution drops the request's error and cause; the response stashed them
        self.error, self.cause = _STOP_REASONS.pop(self.exec_arn, (error or None, cause or None))
        env = self.exec_worker.env if self.exec_worker is not None else None
        if env is None:
            return
        env.event_manager.aborted = True
        # moto keeps its callback endpoints by token in a private dict; no public accessor lists them.
        for endpoint in list(env.callback_pool_manager._pool.values()):
            if endpoint.get_outcome() is None:
                endpoint.report(CallbackConsumerTimeout())  # an answer on the token is refused
                endpoint.interrupt_all()  # and the task waiting on it stops waiting

    def reflect_execution_status(self: Any) -> None:
        # The interpreter winds down after the stop and would stamp its own end: the stop stands.
        stopped = self.execution.stop_date if self.execution.exec_status == ExecutionStatus.ABORTED else None
        moto_reflect_execution_status(self)  # type: ignore[no-untyped-call]
        if stopped is not None:
            self.execution.exec_status = ExecutionStatus.ABORTED
            self.execution.stop_date = stopped
        put_status_change_event(self.execution)

    def add_event(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        # The interrupted task winds down as a timeout; on AWS the history of a stopped execution
        # ends with ExecutionAborted alone.
        if getattr(self, "aborted", False) and event_type != HistoryEventType.ExecutionAborted:
            return int(context.last_published_event_id or 0)
        return int(moto_add_event(self, context, event_type, *args, **kwargs))

    def set_error(self: Any, error: Any) -> None:
        if isinstance(self._program_state, ProgramStopped):
            return  # the interrupted task's error does not turn the stopped program into a failed one
        moto_set_error(self, error)

    def stop_execution_action(self: Any) -> Any:
        arn = self._get_param("executionArn")
        _STOP_REASONS[arn] = (self._get_param("error"), self._get_param("cause"))
        try:
            return moto_stop_execution_action(self)
        finally:
            _STOP_REASONS.pop(arn, None)

    moto_stop_execution_action = StepFunctionResponse.stop_execution
    stop_execution_action.__name__ = "stop_execution"
    response_class: Any = StepFunctionResponse
    response_class.stop_execution = stop_execution_action
    execution_class: Any = Execution
    execution_class.stop = stop
    environment_class: Any = Environment
    environment_class.set_error = set_error
    event_manager_class: Any = EventManager
    event_manager_class.add_event = add_event
    communication_class: Any = BaseExecutionWorkerCommunication
    communication_class._reflect_execution_status = reflect_execution_status


################################################################################
# 8. SageMaker: StopTrainingJob
################################################################################


def _install_stop_training_job() -> None:
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    def stop_training_job(self: Any, training_job_name: str) -> None:
        self.describe_training_job(training_job_name)  # ValidationException for an unknown job, as AWS
        job = self.training_jobs[training_job_name]
        if job.training_job_status != "InProgress":
            raise ValidationError(
                message=f"The request was rejected because the training job is in status {job.training_job_status}."
            )
        # AWS goes through Stopping; moto's jobs take no time, so the stop does not either.
        job.training_job_status = job.secondary_status = "Stopped"

    def stop_training_job_action(self: Any) -> Any:
        self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))
        return ActionResult({})

    stop_training_job_action.__name__ = "stop_training_job"
    backend_class: Any = SageMakerModelBackend
    backend_class.stop_training_job = stop_training_job
    response_class: Any = SageMakerResponse
    response_class.stop_training_job = stop_training_job_action


################################################################################
# 9. Step Functions: task-token calls answered as AWS answers them
################################################################################

# AWS's messages for these errors, as its API returns them.
_TASK_CLOSED = "Task Timed Out: 'Provided task does not exist anymore'"
_TASK_GONE = "Task does not exist anymore"


def _task_token_error(code: str, message: str) -> Exception:
    from moto.core.exceptions import AWSError

    return AWSError(message, exception_type=code)  # 400, {"__type": code, "message": message}


def open_task_endpoint(backend: Any, token: str) -> Any:
    """The callback endpoint of the open task that `token` belongs to, or the error AWS answers:
    InvalidToken for a token no execution issued, TaskTimedOut for a task that is closed
    (answered, timed out or interrupted) or whose execution has ended, TaskDoesNotExist for a
    consumer that left."""
    from moto.stepfunctions.parser.api import ExecutionStatus, InvalidToken
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackConsumerLeft

    for state_machine in backend.state_machines:
        for execution in getattr(state_machine, "executions", []):
            worker = getattr(execution, "exec_worker", None)
            env = getattr(worker, "env", None)
            endpoint = env.callback_pool_manager.get(token) if env is not None else None
            if endpoint is None:
                continue
            if isinstance(endpoint.consumer_error, CallbackConsumerLeft):
                raise _task_token_error("TaskDoesNotExist", _TASK_GONE)
            closed = (
                execution.exec_status != ExecutionStatus.RUNNING
                or endpoint.consumer_error is not None
                or endpoint.get_outcome() is not None
                or getattr(endpoint, "closed", False)
            )
            if closed:
                raise _task_token_error("TaskTimedOut", _TASK_CLOSED)
            return endpoint
    raise InvalidToken()  # type: ignore[no-untyped-call]


def _install_task_token_answers() -> None:
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackEndpoint,
        CallbackOutcome,
        CallbackOutcomeFailure,
        CallbackOutcomeSuccess,
    )
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    # One answer per task: two concurrent answers must not both find the task open.
    answer_lock = threading.Lock()
    moto_interrupt_all = CallbackEndpoint.interrupt_all

    def interrupt_all(self: Any) -> None:
        # moto calls this when the task ends, however it ends (and our StopExecution does): from
        # then on the task is closed, although a timed-out task has no outcome.
        self.closed = True
        moto_interrupt_all(self)

    def answer(backend: Any, token: str, outcome: CallbackOutcome) -> None:
        with answer_lock:
            open_task_endpoint(backend, token).notify(outcome)

    def send_task_success(self: Any, task_token: str, outcome: str) -> None:
        try:
            json.loads(outcome)
        except (TypeError, ValueError):
            raise _task_token_error("InvalidOutput", "Invalid Output: the output is not valid JSON") from None
        answer(self, task_token, CallbackOutcomeSuccess(callback_id=task_token, output=outcome))

    def send_task_failure(
        self: Any, task_token: str, error: str | None = None, cause: str | None = None
    ) -> None:
        answer(self, task_token, CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause))

    def send_task_heartbeat(self: Any, task_token: str) -> None:
        # AWS takes a heartbeat for any open task; it resets the clock of one with HeartbeatSeconds.
        open_task_endpoint(self, task_token).notify_heartbeat()

    def send_task_failure_action(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    send_task_failure_action.__name__ = "send_task_failure"
    endpoint_class: Any = CallbackEndpoint
    endpoint_class.interrupt_all = interrupt_all
    backend_class: Any = StepFunctionsParserBackend
    backend_class.send_task_success = send_task_success
    backend_class.send_task_failure = send_task_failure
    backend_class.send_task_heartbeat = send_task_heartbeat
    response_class: Any = StepFunctionResponse
    response_class.send_task_failure = send_task_failure_action


################################################################################
# 10. Step Functions: execution status change events on the default bus
################################################################################

STATUS_CHANGE = "Step Functions Execution Status Change"


def _epoch_millis(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def status_change_event(execution: Any) -> dict[str, Any]:
    """The PutEvents entry AWS puts for an execution that ended (the documented event's detail)."""
    status = execution.exec_status.value if execution.exec_status is not None else None
    output = execution.output
    detail = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": _epoch_millis(getattr(execution, "start_date", None)),
        "stopDate": _epoch_millis(execution.stop_date),
        "input": json.dumps(execution.input_data),
        "output": json.dumps(output, default=str)
        if output is not None and not isinstance(output, str)
        else output,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if output is not None else None,
        "error": execution.error,
        "cause": execution.cause,
    }
    return {
        "Source": "aws.states",
        "DetailType": STATUS_CHANGE,
        "Resources": [execution.exec_arn],
        "Detail": json.dumps(detail),
    }


def put_status_change_event(execution: Any) -> None:
    """Once per execution: the interpreter may report its end more than once (a stop, then the
    wind-down). A failure to put it is logged, as an undelivered AWS event is invisible too."""
    if getattr(execution, "_status_change_put", False):
        return
    execution._status_change_put = True
    from moto.events.models import events_backends

    try:
        backend = events_backends[execution.account_id][execution.region_name]
        backend.put_events([status_change_event(execution)])
    except Exception as exc:
        log.warning("no status change event for %s: %s", execution.exec_arn, exc)


################################################################################
# 11. SageMaker: Search applies every filter
################################################################################


def _install_search_applies_every_filter() -> None:
    """moto evaluates a search's filters in order and answers True at the first `Tags.` filter that
    matches. Each filter is run alone through moto's own evaluation here, and the results that
    match all of them are kept (in moto's order), which is AWS's default `And`."""
    from moto.sagemaker.models import SageMakerModelBackend

    moto_search = SageMakerModelBackend.search

    def search(self: Any, resource: Any = None, search_expression: Any = None) -> Any:
        expression = search_expression or {}
        filters = expression.get("Filters") or []
        if len(filters) < 2 or expression.get("Operator") == "Or" or expression.get("NestedFilters"):
            return moto_search(self, resource=resource, search_expression=search_expression)

        def key(result: Any) -> str:
            return json.dumps(result, sort_keys=True, default=str)

        answers = [
            moto_search(self, resource=resource, search_expression={**expression, "Filters": [one]})
            for one in filters
        ]
        matching = set.intersection(*({key(r) for r in answer["Results"]} for answer in answers))
        return {**answers[0], "Results": [r for r in answers[0]["Results"] if key(r) in matching]}

    backend_class: Any = SageMakerModelBackend
    backend_class.search = search


################################################################################
# 12. SageMaker: UpdateEndpoint, and the endpoint instance types AWS accepts
################################################################################


def _endpoint_instance_types() -> frozenset[str]:
    import botocore.session

    shape = (
        botocore.session.get_session()
        .get_service_model("sagemaker")
        .shape_for("ProductionVariantInstanceType")
    )
    return frozenset(shape.enum)


def _install_update_endpoint() -> None:
    """moto has no UpdateEndpoint (the deployer's blue/green update, issue #20). The endpoint takes
    the new config's variants at once and stays InService: the emulator runs no fleets, so the
    DeploymentConfig's canary and alarm watch (checked for shape by strict mode) have nothing to do,
    and a rollback is another UpdateEndpoint, as the deployer sends it."""
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    def update_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str) -> Any:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find endpoint '{arn}'.")
        # moto's own refusal of an unknown config: "Could not find endpoint configuration '<arn>'."
        config = self.describe_endpoint_config(endpoint_config_name)
        if endpoint.endpoint_status != "InService":  # AWS: only an endpoint in service can be updated
            raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')
        endpoint.endpoint_config_name = endpoint_config_name
        endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
        endpoint.data_capture_config = config["DataCaptureConfig"]
        endpoint.last_modified_time = utcnow()
        return endpoint

    def update_endpoint_action(self: Any) -> Any:
        endpoint = self.sagemaker_backend.update_endpoint(
            self._get_param("EndpointName"), self._get_param("EndpointConfigName")
        )
        return ActionResult({"EndpointArn": endpoint.arn})

    def validate_instance_type(self: Any, instance_type: str) -> None:
        # moto's own list of endpoint instance types is years old (no g5, g6, p4d, p5): the
        # service model's enum (ProductionVariantInstanceType) is what AWS accepts.
        if instance_type not in _endpoint_instance_types():
            raise ValidationError(
                message=f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint: "
                "Member must satisfy enum value set of ProductionVariantInstanceType"
            )

    endpoint_config_class: Any = FakeEndpointConfig
    endpoint_config_class.validate_instance_type = validate_instance_type
    update_endpoint_action.__name__ = "update_endpoint"
    backend_class: Any = SageMakerModelBackend
    backend_class.update_endpoint = update_endpoint
    response_class: Any = SageMakerResponse
    response_class.update_endpoint = update_endpoint_action
