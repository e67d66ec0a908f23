"""Golden cases of malformed specs: each gives its exact diagnostics, exit 1, no traceback.

A case is a directory under tests/corpus/invalid/ whose files are laid over a copy of the
example specs; `expected.txt` holds the exact output of `reconciler validate`;
`symlinks.txt` (optional) lists `link target` pairs to create.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.spec.yaml_source import MAX_FILE_BYTES
from tests.conftest import copy_examples

CORPUS = Path(__file__).parent / "corpus" / "invalid"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
META = {"expected.txt", "symlinks.txt"}


def build_case(case: Path, dest: Path) -> Path:
    repo = copy_examples(dest)
    for f in sorted(case.rglob("*")):
        if f.is_file() and f.name not in META:
            target = repo / f.relative_to(case)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
    links = case / "symlinks.txt"
    if links.exists():
        for line in links.read_text().splitlines():
            link, target = line.split()
            (repo / link).parent.mkdir(parents=True, exist_ok=True)
            (repo / link).symlink_to(target)
    return repo


def validate(repo: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["validate", str(repo)])
    out, err = capsys.readouterr()
    return code, out, err


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", CASES)
def test_invalid_case(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = CORPUS / name
    repo = build_case(case, tmp_path / "repo")
    code, out, err = validate(repo, capsys)
    assert code == 1
    assert out == (case / "expected.txt").read_text()
    assert "Traceback" not in out + err


def test_oversized_file(example_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = example_repo / "specs" / "models" / "big.yaml"
    big.write_text("kind: Model\nname: big\ndescription: '" + "x" * MAX_FILE_BYTES + "'\n")
    code, out, _ = validate(example_repo, capsys)
    assert code == 1
    size = big.stat().st_size
    assert out.splitlines()[0] == (
        f"specs/models/big.yaml:1:1: file is too large ({size} bytes; the limit is {MAX_FILE_BYTES})"
    )


def test_spec_file_symlinked_out_of_repo(
    example_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text((example_repo / "specs" / "gates" / "regression-quality.yaml").read_text())
    (example_repo / "specs" / "gates" / "linked.yaml").symlink_to(outside)
    code, out, _ = validate(example_repo, capsys)
    assert code == 1
    assert out.splitlines()[0] == "specs/gates/linked.yaml:1:1: symlink points outside the repository"
