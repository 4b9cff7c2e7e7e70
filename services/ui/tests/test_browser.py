"""The dashboard in a real browser: Debian's headless chromium driven by Playwright, a real Streamlit
server, the real API on PostgreSQL and the emulator's Step Functions. An operator signs in through the
local sign-in page (the development signer playing the load balancer's sign-in: no API key), uploads
a dataset with a broken line, launches a run and opens it; the workers' part is played through the
API; an approver signs in, sees the run, and approves it through the Teams card's link (the real
formatter's card in the devstack Teams inbox), which answers the waiting workflow and records her
identity in the audit trail. An operator rolls a served model back and tries it (a real serving
process on the tiny model). Screenshots of every page go to artifacts/screenshots/."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from mlops_approval import teams
from mlops_approval.messages import Notification
from mlops_contracts.aws import aws_client
from mlops_devstack.dev_signer import DevSignInServer
from mlops_devstack.emulator import free_port
from mlops_devstack.processes import ChildProcess, http_answers
from mlops_devstack.teams_inbox import TeamsInbox
from mlops_testkit.api import EVAL_ROW, QA_ROW, Clients, jsonl
from mlops_testkit.servers import WaitingTask

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "artifacts" / "screenshots"
APP = ROOT / "services" / "ui" / "src" / "mlops_ui" / "app.py"
WIDTH = 1440

pytestmark = pytest.mark.usefixtures("clean")


@pytest.fixture
def dashboard(api_server, dev_sign_in: DevSignInServer, tmp_path: Path) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port, pointed at the live API, with `make dev`'s
    sign-in (the development signer's cookie, forwarded to the API) and no API-key sign-in."""
    port = free_port()
    env = {
        **os.environ,
        "API_URL": api_server.base_url,
        "UI_REFRESH_SECONDS": "3",
        "UI_IDENTITY_COOKIE": dev_sign_in.cookie,
        "UI_SIGN_IN_URL": dev_sign_in.sign_in_url,
    }
    env.pop("UI_API_KEY_SIGN_IN", None)
    streamlit = ChildProcess.start(
        "streamlit",
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            f"--server.port={port}",
            "--server.address=127.0.0.1",
            "--server.headless=true",
            "--browser.gatherUsageStats=false",
            "--server.fileWatcherType=none",
            "--client.toolbarMode=minimal",
        ],
        env=env,
        log=tmp_path / "streamlit.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        streamlit.wait_until(
            lambda: http_answers(f"{url}/_stcore/health", ok_only=True, timeout=1), timeout=30, what="healthy"
        )
        yield url
    finally:
        streamlit.stop(timeout=10)


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium (.ci/run does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def settle(page: Page) -> None:
    """Wait until Streamlit has finished running the script and the page stopped changing."""
    page.wait_for_selector('[data-testid="stApp"]')
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        stale = page.locator('[data-stale="true"]').count() > 0
        if not running and not stale:
            break
        time.sleep(0.1)
    page.wait_for_timeout(400)


def shoot(page: Page, name: str) -> Path:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, so the viewport is
    grown to the content's height first."""
    settle(page)
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight); }"
    )
    page.set_viewport_size({"width": WIDTH, "height": max(900, min(int(height) + 40, 6000))})
    page.wait_for_timeout(600)  # charts re-layout to the new size
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": 900})
    return path


def choose_person(page: Page, name: str, email: str) -> None:
    """On the local sign-in page: pick a person; the page sets the signed identity and goes back."""
    page.get_by_role("button", name=name).click()
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible(timeout=15000)
    settle(page)


def nav(page: Page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", level=1).first).to_be_visible()
    settle(page)


def seed(clients: Clients, datasets: dict[str, int], aws_sagemaker_group: str) -> None:
    """A few runs in other states, so the Runs and Models pages look like a working platform."""
    plans = [
        ("qwen2-7b-support", "support-bot", ["training", "evaluating", "rejected"], 0.58),
        ("mistral-7b-rag-qa", "rag-qa", ["training", "evaluating", "awaiting_approval", "approved"], 0.77),
        ("llama-3-8b-qa", "baseline", ["evaluating"], None),
        ("mistral-7b-rag-qa", "rag-qa", ["training", "failed"], None),
    ]
    sagemaker = aws_client("sagemaker")
    with (
        clients.as_("operator") as op,
        clients.as_("projector") as svc,
        clients.as_("evaluator") as evaluator,
    ):
        for model, experiment, statuses, score in plans:
            body = {
                "model_name": model,
                "model_id": "mistralai/Mistral-7B-v0.1",
                "task_type": "finetune" if statuses[0] == "training" else "eval_only",
                "experiment_name": experiment,
                "eval_dataset_id": datasets["eval"],
            }
            if statuses[0] == "training":
                body["train_dataset_id"] = datasets["train"]
            run_id = op.post("/runs", json=body).json()["id"]
            for status in statuses:
                reason = "MLScore below the threshold" if status == "rejected" else None
                if status == "failed":
                    reason = "training job failed: CUDA out of memory"
                event = {"status": status, "reason": reason, "event_id": str(uuid.uuid4())}
                svc.patch(f"/runs/{run_id}/status", json={**event, "execution_arn": f"arn:seed:run-{run_id}"})
            if score is not None:
                evaluator.put(f"/runs/{run_id}/results/evaluation", json={"metrics": {}, "ml_score": score})
                if model == aws_sagemaker_group:
                    arn = sagemaker.create_model_package(
                        ModelPackageGroupName=model,
                        ModelApprovalStatus="PendingManualApproval",
                        CustomerMetadataProperties={"run_id": str(run_id)},
                    )["ModelPackageArn"]
                    sagemaker.update_model_package(
                        ModelPackageArn=arn,
                        ModelApprovalStatus="Approved",
                        CustomerMetadataProperties={
                            "deployment_status": "go_prod",
                            "validation": "validated",
                        },
                    )


def test_sign_in_launch_follow_and_approve_in_a_browser(
    dashboard: str,
    browser: Browser,
    clients: Clients,
    datasets: dict[str, int],
    kit,
    signing_key: str,
    waiting_task: WaitingTask,
    dev_sign_in: DevSignInServer,
    tmp_path: Path,
) -> None:
    shutil.rmtree(SHOTS, ignore_errors=True)
    group = "mistral-7b-rag-qa"
    kit.registry_group(group, [("Rejected", {"ml_score": "0.64", "deployment_status": "rejected"})])
    seed(clients, datasets, group)

    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    page.set_default_timeout(20000)

    # -- an operator signs in through the local sign-in page (no API key) -----------------------------
    page.goto(dashboard)
    link = page.get_by_role("link", name="Sign in")
    expect(link).to_be_visible()
    expect(page.get_by_label("API key", exact=True)).to_have_count(0)  # make dev only
    shoot(page, "01-sign-in")
    href = link.get_attribute("href")
    assert href is not None
    assert href.startswith(dev_sign_in.sign_in_url)
    page.goto(href)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.screenshot(path=str(SHOTS / "01b-local-sign-in-page.png"), full_page=True)
    choose_person(page, "Grace Hopper", "grace@example.com")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    shoot(page, "02-runs")

    # -- a dataset with a broken line: per-line feedback, nothing stored ------------------------------
    nav(page, "Datasets")
    page.get_by_label("Name", exact=True).fill("support-train")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[
            {
                "name": "support.jsonl",
                "mimeType": "application/x-ndjson",
                "buffer": jsonl(QA_ROW) + b'{"question": 1}\n',
            }
        ]
    )
    page.get_by_role("button", name="Upload and validate").click()
    expect(page.get_by_text("1 invalid line(s); nothing was stored")).to_be_visible()
    shoot(page, "03-datasets-line-errors")

    # -- launch a run and open it ---------------------------------------------------------------------
    nav(page, "Launch")
    page.get_by_label("Experiment", exact=True).fill("browser-e2e")
    shoot(page, "04-launch")
    page.get_by_role("button", name="Launch run").click()
    expect(page.get_by_text("launched: it is")).to_be_visible()
    with clients.as_("viewer") as viewer:
        run = viewer.get("/runs", params={"experiment_name": "browser-e2e"}).json()["items"][0]
    run_id = run["id"]
    assert run["created_by"] == "grace@example.com"  # the signed-in person, through the dashboard
    page.get_by_role("link", name=f"Open run #{run_id}").click()
    expect(page.get_by_role("heading", name=f"Run #{run_id} · {group}")).to_be_visible()
    assert f"/run?id={run_id}" in page.url
    shoot(page, "05-run-detail-pending")

    # -- the workflow's part, through the API as the workers do ----------------------------------------
    kit.move(clients, run_id, "training")
    kit.record_results(clients, run_id, samples=8)
    kit.move(clients, run_id, "evaluating", "awaiting_approval")
    [package] = kit.registry_group(
        group, [("PendingManualApproval", {"run_id": str(run_id), "lifecycle": "finetuned"})]
    )
    approval = kit.register_approval(clients, run_id, waiting_task.token, package)
    assert approval["approval"]["status"] == "pending"

    # -- an approver signs in and sees the run; the Teams card brings her the approval link -----------
    page.goto(f"{dev_sign_in.sign_in_url}?{urlencode({'next': f'{dashboard}/run?id={run_id}'})}")
    choose_person(page, "Ada Lovelace", "ada@example.com")
    expect(page.get_by_role("heading", name=f"Run #{run_id} · {group}")).to_be_visible()
    # the page refreshes itself while the run is active: give the decision box a refresh's time
    expect(page.get_by_role("button", name="Approve")).to_be_visible(timeout=20000)
    shoot(page, "06-run-detail-awaiting-approval")
    inbox = TeamsInbox(tmp_path / "teams-inbox.jsonl", say=lambda _: None).start()
    try:
        note = Notification.model_validate(
            {
                "kind": "approval_requested",
                "run_id": run_id,
                "model_name": group,
                "ml_score": approval["approval"]["ml_score"],
                "ml_score_threshold": approval["approval"]["ml_score_threshold"],
                "approve_url": approval["approve_url"],
                "reject_url": approval["reject_url"],
                "expires_at": approval["expires_at"],
            }
        )
        teams.post_card(inbox.url, teams.teams_message(teams.build_card(note, dashboard)), timeout=10)
    finally:
        inbox.stop()
    [card] = [json.loads(line)["attachments"][0]["content"] for line in inbox.path.read_text().splitlines()]
    [approve_url] = [a["url"] for a in card["actions"] if a.get("title") == "Approve"]

    page.goto(approve_url)
    expect(page.get_by_text("Signed in as ada@example.com")).to_be_visible()
    page.get_by_label("Comment (optional)").fill("Scores above the bar on every metric; ship it.")
    page.screenshot(path=str(SHOTS / "07-approval-page.png"), full_page=True)
    page.get_by_role("button", name=f"Approve run #{run_id}").click()
    expect(page.get_by_text("approved by ada@example.com")).to_be_visible()
    page.screenshot(path=str(SHOTS / "08-approval-recorded.png"), full_page=True)

    execution = waiting_task.result()
    assert execution["status"] == "SUCCEEDED"
    decision = json.loads(execution["output"])
    assert (decision["approved"], decision["approver"]) == (True, "ada@example.com")
    with clients.as_("viewer") as viewer:
        trail = viewer.get(f"/runs/{run_id}/audit").json()
    assert (trail[-1]["action"], trail[-1]["via"], trail[-1]["actor"]) == (
        "approved",
        "link",
        "ada@example.com",
    )
    assert (trail[-1]["details"]["subject"], trail[-1]["details"]["email"]) == (
        "local|ada",
        "ada@example.com",
    )
    # the Teams follow-up names the same identity (the formatter's card of the workflow's "approved")
    follow_up = teams.build_card(
        Notification.model_validate(
            {"kind": "approved", "run_id": run_id, "model_name": group, "approval": decision}
        ),
        dashboard,
    )
    assert "approved by ada@example.com" in json.dumps(follow_up)
    page.goto(f"{dashboard}/run?id={run_id}")
    expect(page.get_by_role("heading", name=f"Run #{run_id} · {group}")).to_be_visible()

    # the workflow writes the verdict into the package's metadata and its "approved" fact reaches the run (the projector's part);
    # the open page notices on its own (it refreshes while the run is active)
    kit.move(clients, run_id, "approved")
    sagemaker = aws_client("sagemaker")
    sagemaker.update_model_package(
        ModelPackageArn=package,
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={"deployment_status": "go_prod", "validation": "validated"},
    )
    expect(page.get_by_text("while the run is active")).to_have_count(0, timeout=20000)
    grid = page.locator(f".st-key-samples_{run_id}")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # the first (worst) sample's row
    expect(page.get_by_text("Ground truth", exact=True)).to_be_visible()
    shoot(page, "09-run-detail-approved-sample")

    # -- the other pages ------------------------------------------------------------------------------
    nav(page, "Runs")
    shoot(page, "10-runs-after-approval")
    nav(page, "Datasets")
    shoot(page, "11-datasets")
    nav(page, "Models")
    # other tests' groups share the emulator: pick this run's model in the page's selector
    page.get_by_role("combobox", name="Model").click()
    page.get_by_role("option", name=group, exact=True).click()
    expect(page.get_by_text(f"Versions of {group}")).to_be_visible()
    shoot(page, "12-models")
    nav(page, "Launch")
    expect(page.get_by_text("may not launch runs")).to_be_visible()  # approvers only approve
    page.close()

    with clients.as_("admin") as admin:  # the dashboard stored nothing broken
        assert sorted(d["name"] for d in admin.get("/datasets").json()["items"]) == ["eval-set", "train-set"]
    assert EVAL_ROW


def test_compare_and_clone_in_a_browser(
    dashboard: str,
    browser: Browser,
    clients: Clients,
    datasets: dict[str, int],
    kit,
    dev_sign_in: DevSignInServer,
) -> None:
    """Two evaluated runs compared side by side, then one cloned into the Launch form and launched
    with one change. Screenshots 13 to 15."""
    runs = []
    for lora_r, score in ((8, 0.74), (32, 0.86)):
        run_id = kit.new_run(
            clients, datasets, experiment_name="lora-rank", hyperparameters={"lora_r": lora_r}
        )
        kit.move(clients, run_id, "training")
        kit.record_results(clients, run_id, ml_score=score, samples=5)
        kit.move(clients, run_id, "evaluating")
        runs.append(run_id)
    with clients.as_("operator") as op:
        assert op.patch(f"/runs/{runs[0]}", json={"tags": ["baseline"]}).status_code == 200

    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    page.set_default_timeout(20000)
    page.goto(
        f"{dev_sign_in.sign_in_url}?{urlencode({'next': f'{dashboard}/compare?ids={runs[0]},{runs[1]}'})}"
    )
    choose_person(page, "Grace Hopper", "grace@example.com")  # an operator

    # -- compare: settings with the difference highlighted, scores, curves, answers ----------------------
    expect(page.get_by_role("heading", name="Compare runs")).to_be_visible()
    expect(page.get_by_text("3 setting(s) differ between the runs")).to_be_visible()  # lora_r, MLScore, tags
    for heading in ("MLScore breakdown", "Training curves", "Answers, question by question"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.locator('[data-testid="stVegaLiteChart"]')).to_have_count(3)
    shoot(page, "13-compare")

    # -- clone the first run: the Launch form prefilled; one change; launched ----------------------------
    page.get_by_role("link", name=f"#{runs[0]} · mistral-7b-rag-qa").click()
    expect(page.get_by_role("heading", name=f"Run #{runs[0]} · mistral-7b-rag-qa")).to_be_visible()
    tag = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="baseline")
    expect(tag.first).to_be_visible()  # the run's tag, as a badge
    page.get_by_role("link", name="Clone").click()
    expect(page.get_by_text(f"Prefilled from run #{runs[0]}")).to_be_visible()
    expect(page.get_by_label("Experiment", exact=True)).to_have_value("lora-rank")
    expect(page.get_by_label("LoRA rank (r)", exact=True)).to_have_value("8")
    page.get_by_label("LoRA rank (r)", exact=True).fill("16")
    shoot(page, "14-clone-launch-form")
    page.get_by_role("button", name="Launch run").click()
    expect(page.get_by_text("launched: it is")).to_be_visible()
    shoot(page, "15-clone-launched")
    page.close()

    with clients.as_("viewer") as viewer:
        clone = viewer.get("/runs", params={"experiment_name": "lora-rank", "limit": 1}).json()["items"][0]
        source = viewer.get(f"/runs/{runs[0]}").json()
    assert clone["id"] not in runs
    assert clone["hyperparameters"] == {**source["hyperparameters"], "lora_r": 16}
    assert clone["created_by"] == "grace@example.com"


def test_deployments_try_it_and_roll_back_in_a_browser(
    dashboard: str,
    browser: Browser,
    clients: Clients,
    datasets: dict[str, int],
    kit,
    dev_sign_in: DevSignInServer,
    served_model: str,
) -> None:
    """What serves a model, a question asked through the API to a real serving process on the tiny
    model, and a rollback to the previous approved version: the release's deployments are recorded
    through the deployer's API routes, as the deployer worker reports them. Screenshots 16 to 19."""
    model = "llama-3-8b-qa"
    runs = []
    for _ in range(3):
        run_id = kit.new_run(clients, datasets, model_name=model, experiment_name="qa-release")
        kit.move(clients, run_id, "training", "evaluating", "awaiting_approval")
        runs.append(run_id)
    kit.move(clients, runs[1], "rejected")
    kit.move(clients, runs[0], "approved")
    kit.move(clients, runs[2], "approved")
    arns = kit.registry_group(
        model,
        [
            ("Approved", {"run_id": str(runs[0]), "deployment_status": "go_prod"}),
            ("Rejected", {"run_id": str(runs[1]), "deployment_status": "rejected"}),
            ("Approved", {"run_id": str(runs[2]), "deployment_status": "go_prod"}),
        ],
    )
    with clients.as_("deployer") as deployer:  # two releases, each deployed after its approval
        for version in (1, 3):
            body = {
                "model_name": model,
                "model_package_arn": arns[version - 1],
                "version": version,
                "run_id": runs[version - 1],
                "requested_by": "release workflow",
            }
            deployment = deployer.post("/deployments/release", json=body).json()
            report = {"status": "in_service", "endpoint_url": served_model, "variant": f"v{version}"}
            assert deployer.patch(f"/deployments/{deployment['id']}/status", json=report).status_code == 200

    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    page.set_default_timeout(20000)
    page.goto(f"{dev_sign_in.sign_in_url}?{urlencode({'next': f'{dashboard}/deployments?model={model}'})}")
    choose_person(page, "Grace Hopper", "grace@example.com")  # an operator
    expect(page.get_by_role("heading", name="Deployments")).to_be_visible()
    metric = page.locator('[data-testid="stMetricValue"]')
    expect(metric.filter(has_text="v3")).to_be_visible()
    expect(page.get_by_role("link", name=f"Run #{runs[2]}")).to_be_visible()
    expect(page.get_by_text("Deployed by the release workflow after its approval")).to_be_visible()
    shoot(page, "16-deployments")

    # -- try it: the question goes through the API's invoke route to the serving process ---------------
    question, context = "Where are runs stored?", "Runs are stored in PostgreSQL."
    page.get_by_label("Question", exact=True).fill(question)
    page.get_by_label("Context (optional)", exact=True).fill(context)
    page.get_by_label("Max new tokens", exact=True).fill("16")
    page.get_by_role("button", name="Ask").click()
    expect(page.get_by_text("Latency", exact=True)).to_be_visible(timeout=60000)
    direct = httpx.post(
        f"{served_model}/invocations",
        json={"question": question, "contexts": [context], "max_new_tokens": 16},
        timeout=60,
    ).json()
    shown = page.locator('[data-testid="stText"]')
    expect(shown.nth(1)).to_have_text(direct["answer"])  # the served model's answer, as it gave it
    shoot(page, "17-deployments-try-it")

    # -- roll back to v1, confirmed; the deployer reports it in service; the page follows -------------
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_text(f"Roll back {model} to v1?")).to_be_visible()
    page.get_by_label("Reason", exact=True).fill("v3 answers worse on the support questions")
    shoot(page, "18-deployments-roll-back-confirm")
    page.get_by_role("button", name="Confirm roll back").click()
    expect(page.get_by_text("of v1 requested: the release workflow is deploying it")).to_be_visible()
    with clients.as_("viewer") as viewer:
        rollback = viewer.get(f"/models/{model}/deployments").json()["items"][0]
    assert (rollback["version"], rollback["status"], rollback["requested_by"]) == (
        1,
        "deploying",
        "grace@example.com",
    )
    assert rollback["reason"] == "v3 answers worse on the support questions"
    expect(page.get_by_text(f"Deployment #{rollback['id']} of v1 is deploying")).to_be_visible()
    with clients.as_("deployer") as deployer:
        report = {"status": "in_service", "endpoint_url": served_model, "variant": "v1"}
        assert deployer.patch(f"/deployments/{rollback['id']}/status", json=report).status_code == 200
    expect(page.get_by_text("while deployment")).to_have_count(0, timeout=20000)  # the page refreshed itself
    expect(metric.filter(has_text="v1")).to_be_visible()
    expect(page.get_by_text("through the API on")).to_be_visible()  # grace, with her reason
    expect(page.get_by_role("button", name="Roll back", exact=True)).to_be_disabled()  # nothing older
    shoot(page, "19-deployments-rolled-back")
    page.close()
