"""`python -m mlops_devstack demo` (`make demo`): attach to or start the stack, run the demo, print the
report; exit 1 with the failing phase's message when a step fails or times out."""

from __future__ import annotations

import argparse

from rich.console import Console

from mlops_devstack.demo.flow import DEMO_THRESHOLD, DemoConfig, DemoFailed, PhaseClock, run_demo
from mlops_devstack.demo.progress import make_progress
from mlops_devstack.demo.report import print_failure, print_report
from mlops_devstack.demo.stack import DemoStack, api_port, attach_or_start, demo_keys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-port", type=int, default=None, help="the stack's API port (API_PORT, 8000)")
    parser.add_argument(
        "--model-id", default=None, help="base model (default: the offline tiny model in .local/models)"
    )
    parser.add_argument("--model-name", default="tiny-platform-qa", help="the registry's package group")
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEMO_THRESHOLD,
        help=f"MLScore threshold (default {DEMO_THRESHOLD}: the offline judge's scale, not an LLM judge's)",
    )


def run(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    if not console.is_terminal:
        # Logs and pipes: wide enough that the tables' event names and tags are not cut.
        console = Console(highlight=False, width=max(console.width, 140))
    clock = PhaseClock()
    port = args.api_port or api_port()
    api_url = f"http://127.0.0.1:{port}"
    console.print(
        f"[bold]make demo[/bold]: a finetune run from launch to production approval on {api_url}",
        soft_wrap=True,
    )
    progress = make_progress(console, clock.started)
    stack: DemoStack | None = None
    try:
        with clock.phase("stack start", progress) as timing:
            stack = attach_or_start(api_url, port, say=progress.note)
            timing.note = "already running" if stack.child is None else f"started (log {stack.log})"
        config = DemoConfig(
            model_id=args.model_id, model_name=args.model_name, ml_score_threshold=args.threshold
        )
        result = run_demo(api_url, demo_keys(api_url), config, progress, clock)
        progress.close()
        print_report(console, result)
        console.print(f"\n[bold green]make demo: done in {clock.total():.0f}s[/bold green]")
        return 0
    except DemoFailed as exc:
        progress.close()
        print_failure(console, exc, clock)
        return 1
    except KeyboardInterrupt:
        progress.close()
        console.print("\nmake demo: interrupted")
        return 130
    finally:
        if stack is not None:
            stack.stop()
