from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.conftest import ROOT, copy_examples


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_examples_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["validate", str(ROOT)], capsys)
    assert code == 0
    assert out == "20 objects in 20 files: valid\n"


def break_model(repo: Path) -> None:
    path = repo / "specs" / "models" / "wine-classifier.yaml"
    path.write_text(path.read_text().replace("C: 1.0", "C: -1").replace("f1_macro", "f1_mcro"))


def test_text_format_lists_every_error_sorted(example_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    break_model(example_repo)
    (example_repo / "environments" / "staging.yaml").write_text(
        (example_repo / "environments" / "staging.yaml").read_text().replace("promotes_from: dev", "promotes_from: deb")
    )
    code, out, _ = run(["validate", str(example_repo)], capsys)
    assert code == 1
    assert out.splitlines() == [
        "environments/staging.yaml:4:16: promotes_from: no Environment named 'deb'; did you mean 'dev'?",
        "specs/models/wine-classifier.yaml:14:19: estimator.steps[1].params.C: "
        "must be a float in the range (0.0, inf] (got -1)",
        "specs/models/wine-classifier.yaml:16:21: metrics[1]: unknown scorer 'f1_mcro'; did you mean 'f1_micro'?",
        "3 errors in 2 files (20 objects in 20 files checked)",
    ]


def test_github_format(example_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    break_model(example_repo)
    code, out, _ = run(["validate", str(example_repo), "--format", "github"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        "::error file=specs/models/wine-classifier.yaml,line=14,col=19::"
        "estimator.steps[1].params.C: must be a float in the range (0.0, inf] (got -1)"
    )
    assert lines[-1] == "2 errors in 1 file (20 objects in 20 files checked)"


def test_json_format(example_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    break_model(example_repo)
    code, out, _ = run(["validate", str(example_repo), "--format", "json"], capsys)
    assert code == 1
    doc = json.loads(out)
    assert doc["valid"] is False
    assert doc["objects"] == 20 and doc["files"] == 20
    assert [(e["file"], e["line"], e["col"]) for e in doc["errors"]] == [
        ("specs/models/wine-classifier.yaml", 14, 19),
        ("specs/models/wine-classifier.yaml", 16, 21),
    ]


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(tmp_path / "missing")])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--format", "xml"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_empty_spec_directory_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "specs").mkdir()
    code, out, _ = run(["validate", "--no-git", str(tmp_path)], capsys)
    assert code == 0
    assert out == "0 objects in 0 files: valid\n"


def test_a_directory_without_specs_is_not_valid_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It used to say "0 objects in 0 files: valid" from any directory, a subdirectory included."""
    code, out, err = run(["validate", "--no-git", str(tmp_path)], capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"reconciler: no spec directory (specs/, environments/, policies/) in {tmp_path}: ")
    assert "reconciler init" in err


def test_validate_imports_neither_mlflow_nor_sklearn(tmp_path: Path) -> None:
    """Specs are checked from the catalog, without scikit-learn or MLflow; pandas only when a
    dataset's data is in the repository (its contract and text columns are checked then)."""

    def heavy(repo: Path) -> str:
        probe = (
            "import sys\n"
            "from reconciler.cli import main\n"
            f"code = main(['validate', {str(repo)!r}])\n"
            "heavy = sorted(m for m in ('mlflow', 'sklearn', 'pandas', 'numpy') if m in sys.modules)\n"
            "print('HEAVY', heavy)\n"
            "raise SystemExit(code)\n"
        )
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "HEAVY ['numpy', 'pandas']" in heavy(ROOT)  # the tabular example's CSV is read
    bundled = copy_examples(tmp_path / "bundled")
    (bundled / "specs/datasets/breast-cancer-mixed.yaml").unlink()
    (bundled / "specs/models/tumour-classifier.yaml").unlink()
    for env in bundled.glob("environments/*.yaml"):
        lines = env.read_text().splitlines(keepends=True)
        kept = [
            line
            for i, line in enumerate(lines)
            if "tumour-classifier" not in line
            and not (i and "tumour-classifier" in lines[i - 1] and line.startswith("    "))
        ]
        env.write_text("".join(kept))
    assert "HEAVY []" in heavy(bundled)


def test_python_dash_m_and_console_script(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(ROOT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip() == "20 objects in 20 files: valid"
    script = Path(sys.executable).with_name("reconciler")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("reconciler ")


def csv_dataset(repo: Path, checks: str, rows: int = 150) -> None:
    from sklearn.datasets import load_iris

    (repo / "data").mkdir(exist_ok=True)
    load_iris(as_frame=True).frame.head(rows).to_csv(repo / "data" / "iris.csv", index=False)
    (repo / "specs" / "datasets" / "iris.yaml").write_text(
        "kind: Dataset\nname: iris\nsource: {csv: data/iris.csv}\ntarget: target\n" + checks
    )


def test_data_contracts_of_local_files_run_in_validate(example_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_dataset(
        example_repo,
        "checks:\n  min_rows: 5000\n  columns:\n    petal length (cm): {dtype: int, min: 0}\n",
    )
    code, out, _ = run(["validate", str(example_repo)], capsys)
    assert code == 1, out
    assert "specs/datasets/iris.yaml:6:13: data contract: 150 rows, fewer than min_rows 5000" in out
    assert (
        "specs/datasets/iris.yaml:8:32: data contract: column 'petal length (cm)' has dtype float64, expected int"
        in out
    )


def test_a_scorer_that_cannot_score_the_target_is_refused(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = example_repo / "specs" / "models" / "iris-classifier.yaml"
    path.write_text(path.read_text().replace("metrics: [accuracy, f1_macro]", "metrics: [accuracy, f1]"))
    code, out, _ = run(["validate", str(example_repo)], capsys)
    assert code == 1, out
    assert "metrics: 'f1' needs a binary target, but dataset 'iris' has 3 classes; use 'f1_macro'" in out
    # The same from a CSV, where only the data knows the classes.
    csv_dataset(example_repo, "")
    code, out, _ = run(["validate", str(example_repo)], capsys)
    assert code == 1 and "dataset 'iris' has 3 classes" in out


def test_inputs_lists_spec_directories_and_data_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("x,y\n1,0\n2,1\n")
    (tmp_path / "specs" / "d.yaml").write_text(
        "kind: Dataset\nname: a\nsource: {csv: data/a.csv}\ntarget: y\n---\n"
        "kind: Dataset\nname: b\nsource: {csv: data/missing.csv}\ntarget: y\n"
    )
    assert main(["inputs", "--no-git", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "specs",
        "environments",
        "policies",
        "data/a.csv",
        "data/missing.csv",
    ], "a dataset with errors still names its file"
