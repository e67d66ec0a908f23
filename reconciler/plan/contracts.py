"""Data contracts of what will train: a model whose data breaks its contract is blocked with
the reason before anything is fitted. Only models without a version are checked, so a plan
where nothing trains never loads a dataset."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler.data.checks import TextColumns, text_columns, text_problem
from reconciler.data.frames import check_data, load_frame
from reconciler.desired.model import Desired, DesiredEntry, Target
from reconciler.sources import source_type
from reconciler.state.actual import ActualState


def check_untrained_data(
    desired: Desired, actual: ActualState, scope: Sequence[str] | None, offline: bool = False
) -> Desired:
    """Run data contracts for models that will train (loading data only when it is needed).
    Offline (git alone), data kept in another system is not fetched: its pin is what plans."""
    results: dict[tuple[Path, str], tuple[str, ...]] = {}
    texts: dict[tuple[Path, str], TextColumns] = {}
    targets = dict(desired.targets)
    for key, target in desired.targets.items():
        env, name = key
        if scope is not None and env not in scope:
            continue
        rm = actual.model(name)
        if rm is not None and rm.by_fingerprint(target.entry.fingerprint) is not None:
            continue
        dataset = target.resolved.dataset
        if offline and source_type(dataset.source).remote(dataset.source):
            continue
        dkey = (target.data_root, dataset.name)
        if dkey not in results:
            try:
                frame = load_frame(target.resolved.dataset, target.data_root)
                results[dkey] = tuple(check_data(target.resolved.dataset, frame))
                texts[dkey] = text_columns(dataset, frame)
            except (OSError, ValueError, KeyError) as exc:
                results[dkey] = (f"cannot load dataset: {exc}",)
        # Data outside git is first read here: its text columns are checked against the model now.
        text = text_problem(dataset, target.resolved.model, texts[dkey]) if dkey in texts else None
        problems = results[dkey] + ((text,) if text is not None else ())
        if problems:
            entry = target.entry
            targets[key] = Target(
                target.resolved,
                DesiredEntry(
                    entry.environment,
                    entry.model,
                    entry.fingerprint,
                    entry.spec,
                    entry.gates,
                    entry.gates_hash,
                    entry.ancestors,
                    problems,
                    entry.pin,
                ),
                target.data_root,
                target.spec_file,
                target.dataset_hash,
            )
    return Desired(desired.state, targets, desired.provenance)
