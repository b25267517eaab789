"""Shared fixtures. Tests run on tiny data (the embedded digits, or a few MNIST files) on the CPU."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from hypothesis import settings

# fuzzing (tests/test_fuzz.py): a fixed seed and example count in CI; `--hypothesis-profile thorough`
# for a longer local search
settings.register_profile("ci", derandomize=True, max_examples=40, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=1000, deadline=None, print_blob=True)
settings.load_profile("ci")

os.environ.setdefault("NEURALZOO_OFFLINE", "1")  # never try a download from the test suite


def pytest_configure(config):
    """One torch thread in each process that runs tests: tiny models gain nothing from intra-op
    threads, and on a busy machine threads that wait on each other made a test file ten times slower.
    A pytest-xdist controller runs no tests and never imports torch (a second of its start-up)."""
    if config.pluginmanager.hasplugin("xdist") and config.getoption("numprocesses", None) \
            and not hasattr(config, "workerinput"):
        return
    import torch

    torch.set_num_threads(1)

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"

# What the fast subset (`pytest -m "not slow"`) leaves to the full suite (`pytest`, which CI runs),
# besides the tests marked slow where they are defined: the long learning checks, tests that start
# processes or a browser, and of a family parametrized over models or estimators all but a few
# members. The fast subset still imports every module but `__main__` (run by subprocess tests) and
# `evaluation/inception.py` (it needs the FID weights file). Keys: "file::test"; values: why, and
# for a parametrized test the parameter ids that stay fast (None: none stay).
FULL_SUITE_ONLY: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "test_sklearn.py::test_parameters_reach_the_dataclasses_and_grid_search_uses_them":
        ("a grid search in two worker processes, each importing torch", None),
    "test_sklearn.py::test_transformer_codes_decode_and_score": ("two fits of 30 epochs", None),
    "test_sklearn.py::test_outlier_detectors_in_both_conventions": ("60 epochs each", ("autoencoder",)),
    "test_sklearn.py::test_classifiers_learn_digits_with_string_labels": ("25 epochs", ("mlp", "cnn")),
    "test_tune.py::test_two_workers_share_one_journal": ("two processes, each importing torch", None),
    "test_tune.py::test_a_database_storage_url_holds_the_study": ("SQLAlchemy and its migrations", None),
    "test_self_supervised.py::test_the_probe_never_looks_at_test_labels":
        ("cross-validated logistic regressions on every label", None),
    "test_export.py::test_every_model_exports_and_onnx_runtime_matches_pytorch":
        ("an ONNX export per model (the generators' inputs: a fast test of their own)", ("mlp",)),
    "test_export.py::test_forecasters_and_language_models_export_with_their_state":
        ("a training and an export per family", None),
    "test_export.py::test_int8_models_keep_their_accuracy_at_a_fraction_of_the_size":
        ("a training to a useful accuracy", None),
    "test_export.py::test_int8_calibrates_on_mnist_training_files": ("a CNN on all of MNIST, exported", None),
    "test_export.py::test_int8_is_skipped_where_nothing_is_quantized": ("a recurrent export and quantization", None),
    "test_self_supervised.py::test_probe_label_pool_is_the_whole_mnist_training_split":
        ("probes on all of MNIST", None),
    "test_export.py::test_export_prints_nothing_from_the_libraries_it_uses":
        ("a process importing torch and the exporter", None),
    "test_serve_browser.py::": ("a browser", None),
    "test_small_fixes.py::test_a_collapsed_vae_traversal_says_so": ("a VAE trained 20 epochs", None),
    "test_explain.py::test_attribution_lands_on_the_region_that_decides": ("a CNN trained per case", None),
    "test_privacy.py::test_a_private_run_learns_the_digits_and_evaluates_with_its_epsilon":
        ("10 epochs of DP-SGD to a useful accuracy", None),
    "test_sequence_models.py::test_forecaster_beats_the_naive_forecast": ("a learning check", None),
    "test_sequence_models.py::test_classifier_learns_variable_length_sequences": ("a learning check", None),
    "test_latent.py::test_anomaly_scores_rank_an_obvious_outlier_first": ("a learning check", None),
    "test_gan.py::test_dcgan_is_sized_from_the_data": ("a DCGAN per size", ("shape0", "shape1", "shape3")),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path, name = item.path.name, getattr(item, "originalname", item.name)
        entry = FULL_SUITE_ONLY.get(f"{path}::{name}") or FULL_SUITE_ONLY.get(f"{path}::")
        if entry is not None:
            callspec = getattr(item, "callspec", None)
            if entry[1] is None or callspec is None or callspec.id not in entry[1]:
                item.add_marker(pytest.mark.slow)
        elif path == "test_sklearn.py" and name == "test_scikit_learn_estimator_checks":
            # scikit-learn's checks, a fit or several each: the fast subset runs them on the MLP
            # classifier, less the learning check (check_classifiers_train: 20 epochs, 3 variants)
            estimator, check = item.callspec.params["estimator"], item.callspec.params["check"]
            check_name = getattr(check, "func", check).__name__
            if (type(estimator).__name__ != "NeuralZooClassifier" or estimator.model != "mlp"
                    or check_name == "check_classifiers_train"):
                item.add_marker(pytest.mark.slow)


# modules no in-process test imports, and why (the module check below allows these only)
NOT_IMPORTED = {"neuralzoo.__main__": "run by the subprocess tests",
                "neuralzoo.evaluation.inception": "needs the FID weights file"}


UNIMPORTED = pytest.StashKey[list]()
IMPORTED_BY_WORKERS = pytest.StashKey[set]()


def package_modules() -> set[str]:
    package = Path(__file__).resolve().parents[1] / "src" / "neuralzoo"
    return {".".join(("neuralzoo", *p.relative_to(package).with_suffix("").parts)).removesuffix(".__init__")
            for p in package.rglob("*.py")}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist: each worker imports what its share of the tests needs; the check takes the union."""
    imported = getattr(node, "workeroutput", {}).get("neuralzoo_modules", [])
    node.config.stash.setdefault(IMPORTED_BY_WORKERS, set()).update(imported)


def pytest_sessionfinish(session, exitstatus):
    """A run of the whole tests/ folder (the full suite or `-m "not slow"`, no -k) that passed must have
    imported every module of the package but NOT_IMPORTED: the fast subset touches every module. Under
    pytest-xdist the workers report their imports and the controller checks their union."""
    import sys

    config = session.config
    if hasattr(config, "workeroutput"):   # an xdist worker: report, the controller decides
        config.workeroutput["neuralzoo_modules"] = sorted(package_modules() & set(sys.modules))
        return
    if (exitstatus != 0 or config.option.keyword or config.option.collectonly
            or config.args_source != pytest.Config.ArgsSource.TESTPATHS):
        return
    imported = set(sys.modules) | config.stash.get(IMPORTED_BY_WORKERS, set())
    missing = sorted(package_modules() - imported - set(NOT_IMPORTED))
    if missing:
        config.stash[UNIMPORTED] = missing
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    missing = config.stash.get(UNIMPORTED, [])
    if missing:
        terminalreporter.write_sep("=", "modules no test imported", red=True)
        terminalreporter.write_line(f"{len(missing)}: {', '.join(missing)}")


@pytest.fixture(scope="session", autouse=True)
def no_fsync():
    """Checkpoints are written with ``os.fsync`` so that a power cut cannot lose them; no test in this
    process can observe that (the kill-and-resume tests run training in subprocesses, which still
    sync), but each sync waits on the disk: about 4 ms, twice per epoch of every tiny run. The
    writes, renames and their error handling run as always."""
    patch = pytest.MonkeyPatch()
    patch.setattr(os, "fsync", lambda fd: None)
    yield
    patch.undo()


@pytest.fixture(scope="session")
def digits():
    from neuralzoo.data import DataConfig, load_dataset

    return load_dataset(DataConfig(data="digits"))


@pytest.fixture
def mnist_dir() -> Path:
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST files not found in {SHARED_MNIST}")
    return SHARED_MNIST


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real (tiny) run: an MLP trained 3 steps on digits."""
    import neuralzoo

    out = tmp_path_factory.mktemp("run") / "mlp"
    neuralzoo.train("mlp", out=out, data="digits", hidden_sizes=(16,), epochs=1, max_steps=3,
                    progress=False, device="cpu")
    return out


@pytest.fixture(scope="session")
def shared_runs(tmp_path_factory):
    """``shared_runs({name: (model, settings)})``: a folder holding under each name a link to the run
    of that model trained with those settings, trained once per session for all the test files that
    ask for the same (a CNN trained 8 epochs on digits serves the explanation, serving and browser
    tests alike). Tests only read these runs."""
    import json

    import neuralzoo

    made: dict[str, Path] = {}

    def trained(model: str, overrides: dict) -> Path:
        key = json.dumps([model, overrides], sort_keys=True)
        if key not in made:
            out = tmp_path_factory.mktemp(f"shared-{model}") / model
            neuralzoo.train(model, out=out, progress=False, verbose=False, **overrides)
            made[key] = out
        return made[key]

    def folder(runs: dict[str, tuple[str, dict]]) -> Path:
        linked = tmp_path_factory.mktemp("runs")
        for name, (model, overrides) in runs.items():
            (linked / name).symlink_to(trained(model, overrides), target_is_directory=True)
        return linked

    return folder


@pytest.fixture
def cli(capsys):
    """``cli(argv)`` runs ``main(argv)`` in-process: (exit code, stdout, stderr). Warnings (which a
    user would see on stderr) count as output; deprecation warnings are hidden from users by
    Python's defaults."""
    from neuralzoo.cli import main

    def run(argv: list) -> tuple[int, str, str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exc:   # argparse (--help, usage errors)
                code = exc.code
        hidden = (DeprecationWarning, PendingDeprecationWarning)
        shown = [w for w in caught if not issubclass(w.category, hidden)]
        out, err = capsys.readouterr()
        err += "".join(f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}\n" for w in shown)
        return code, out, err

    return run
