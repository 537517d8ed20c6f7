"""Model files are code: training records their SHA-256, and every command that loads one checks
it before unpickling."""

from __future__ import annotations

import json
import shutil

import pytest

from exohunt.cli import main
from exohunt.serving import HASH_KEY, MODEL_FILE, file_sha256
from tests.support import run


def test_training_records_the_model_files_hash(koi_model):
    metadata = json.loads((koi_model / "model_metadata.json").read_text())
    assert metadata[HASH_KEY] == {MODEL_FILE: file_sha256(koi_model / MODEL_FILE)}


@pytest.mark.parametrize("command", ["predict", "evaluate", "scan"])
def test_a_changed_model_file_is_refused_before_it_is_unpickled(
    capsys, koi_model, koi_subset, shared_data, tmp_path, command
):
    tampered = tmp_path / "rf"
    shutil.copytree(koi_model, tampered)
    with open(tampered / MODEL_FILE, "ab") as handle:
        handle.write(b"\x80")  # one byte more: not what training wrote
    if command == "scan":
        argv = ["scan", str(shared_data / "lightcurves"), "--model", str(tampered), "--no-mlflow",
                "--output", str(tmp_path / "c.csv")]  # fmt: skip
    else:
        argv = [command, str(tampered), str(koi_subset)]
        argv += ["--output", str(tmp_path / "p.csv")] if command == "predict" else []
    code, _, err = run(capsys, *argv)
    assert code == 2 and "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error: ")]
    assert "is not the file training saved: its SHA-256" in line
    assert "a model file is code" in line


def test_an_unchanged_model_loads(capsys, koi_model, koi_subset, tmp_path):
    code, _, err = run(capsys, "predict", str(koi_model), str(koi_subset), "--output",
                       str(tmp_path / "p.csv"))  # fmt: skip
    assert code == 0, err


def test_a_changed_logged_model_is_refused_and_the_run_records_the_hash(
    capsys, koi_subset, store, tmp_path
):
    import mlflow

    out = tmp_path / "rf"
    assert (
        main(["-q", "train", str(koi_subset), "--experiment-name", "h", "--output", str(out)]) == 0
    )
    client = mlflow.tracking.MlflowClient(store)
    (koi_model,) = client.search_runs([client.get_experiment_by_name("h").experiment_id])
    assert koi_model.data.tags[HASH_KEY] == file_sha256(out / MODEL_FILE)
    uri = f"runs:/{koi_model.info.run_id}/exohunt_model"
    assert run(capsys, "predict", uri, str(koi_subset), "--output", str(tmp_path / "a.csv"))[0] == 0
    (logged,) = list((tmp_path / "mlruns" / "artifacts").rglob(MODEL_FILE))  # the servable copy
    with open(logged, "ab") as handle:
        handle.write(b"\x80")
    code, _, err = run(capsys, "predict", uri, str(koi_subset), "--output", str(tmp_path / "b.csv"))
    assert code == 2 and "is not the file training saved" in err and "Traceback" not in err
