"""`import cellmodel` makes idle OpenMP threads sleep rather than spin (OMP_WAIT_POLICY=PASSIVE),
leaves a value the user set alone, and the fit's bits do not depend on the policy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, policy: str | None, tmp_path: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = str(REPO)
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
        cwd=tmp_path or REPO,
    )  # fmt: skip
    return done.stdout.strip()


READ_POLICY = "import os, cellmodel; print(os.environ['OMP_WAIT_POLICY'])"


def test_import_sets_passive_waiting_when_unset() -> None:
    assert _python(READ_POLICY, None) == "PASSIVE"


def test_a_policy_the_user_set_wins() -> None:
    assert _python(READ_POLICY, "ACTIVE") == "ACTIVE"


FIT = """
import numpy as np, torch
import cellmodel
from cellmodel.cluster.fit import fit_clusters
torch.set_num_threads(2)
rng = np.random.default_rng(0)
centres = rng.normal(scale=6.0, size=(4, 30))
X = (centres[rng.integers(0, 4, 600)] + rng.normal(size=(600, 30))).astype(np.float32)
result = fit_clusters(X, None, None, 4, seed=3, pretrain_steps=40, min_pretrain_steps=20,
                      cluster_steps=20, hidden_dim=64)
np.savez("fit.npz", latent=result.latent, labels=result.labels)
"""


@pytest.mark.slow
def test_fit_bits_do_not_depend_on_the_wait_policy(tmp_path: Path) -> None:
    fits = {}
    for policy in ("ACTIVE", "PASSIVE"):
        folder = tmp_path / policy
        folder.mkdir()
        _python(FIT, policy, folder)
        fits[policy] = np.load(folder / "fit.npz")
    assert np.array_equal(fits["ACTIVE"]["labels"], fits["PASSIVE"]["labels"])
    assert np.array_equal(fits["ACTIVE"]["latent"], fits["PASSIVE"]["latent"])
