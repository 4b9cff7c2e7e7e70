"""Settings of the approval worker and the Teams formatter."""

from __future__ import annotations

from pydantic import Field

from mlops_contracts.settings import PlatformSettings


class ApprovalWorkerSettings(PlatformSettings):
    notifications_topic_arn: str = Field(
        default="",
        validation_alias="NOTIFICATIONS_TOPIC_ARN",
        description="ARN of the SNS topic `mlops-notifications`",
    )

    def topic_arn(self) -> str:
        if not self.notifications_topic_arn:
            raise RuntimeError(
                "NOTIFICATIONS_TOPIC_ARN is not set: the approval worker publishes approval requests "
                "to the `mlops-notifications` topic and needs its ARN"
            )
        return self.notifications_topic_arn


class TeamsSettings(PlatformSettings):
    teams_webhook_secret_id: str = Field(
        default="mlops/teams-webhook",
        validation_alias="TEAMS_WEBHOOK_SECRET_ID",
        description='Secrets Manager secret holding the Teams webhook URL (plain, or JSON {"url": ...})',
    )
    teams_webhook_cache_seconds: int = Field(
        default=300, ge=0, validation_alias="TEAMS_WEBHOOK_CACHE_SECONDS"
    )
    teams_timeout_seconds: float = Field(default=10.0, gt=0, validation_alias="TEAMS_TIMEOUT_SECONDS")
    dashboard_url: str = Field(
        default="http://127.0.0.1:8501",
        validation_alias="DASHBOARD_URL",
        description="Base URL of the Streamlit dashboard; a run's page is <DASHBOARD_URL>/?run_id=<id>",
    )
