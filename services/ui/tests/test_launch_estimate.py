"""The launch form shows the GPU memory estimate (mlops_contracts.gpu_sizing) before launching."""

from __future__ import annotations

import pytest

from mlops_testkit.api import Clients

pytestmark = pytest.mark.usefixtures("clean")


def test_the_launch_form_shows_the_gpu_estimate_and_what_fits(
    app, clients: Clients, datasets: dict[str, int], kit
) -> None:
    at = app("operator", "views/launch.py")
    kit.no_exception(at)
    # the defaults: a Mistral-7B LoRA with gradient checkpointing on one A10G
    assert at.selectbox(key="hp_instance_type").value == "ml.g5.2xlarge"
    assert at.checkbox(key="hp_gradient_checkpointing").value is True
    assert at.checkbox(key="hp_qlora").value is False
    [fits] = [s.value for s in at.success if "GPU memory estimate" in s.value]
    assert "**17.8 GiB** of 20.2 GiB usable on ml.g5.2xlarge" in fits
    assert fits.endswith(": fits.")

    at.selectbox(key="hp_instance_type").set_value("ml.g4dn.xlarge")
    at.checkbox(key="hp_gradient_checkpointing").uncheck()
    at.button[1].click().run()  # "Update estimate": the form's second submit button
    kit.no_exception(at)
    [refused] = [w.value for w in at.warning if "GPU memory estimate" in w.value]
    assert "**47.1 GiB** of 13.5 GiB usable on ml.g4dn.xlarge (one NVIDIA T4" in refused
    assert "does not fit" in refused
    assert "qlora=true, gradient_checkpointing=true" in refused
    with clients.as_("viewer") as viewer:
        assert viewer.get("/runs").json()["items"] == []  # estimating launches nothing

    at.checkbox(key="hp_qlora").check()
    at.checkbox(key="hp_gradient_checkpointing").check()
    at.button[0].click().run()  # launch: the API accepts what the estimate says fits
    kit.no_exception(at)
    with clients.as_("viewer") as viewer:
        [run] = viewer.get("/runs").json()["items"]
    assert run["hyperparameters"]["qlora"] is True
    assert run["hyperparameters"]["instance_type"] == "ml.g4dn.xlarge"
