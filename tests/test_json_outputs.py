"""Every JSON the CLI prints for the committed fixtures, byte for byte against tests/golden/.

The golden file pins the exact bytes (key order, escaping, number formatting) of replay --json,
check --json (lint and readiness), sync, source, urls, list, export and the bundle's reports.
When an output is meant to change, regenerate it and review the diff:

    PYTHONPATH=$PWD python tests/test_json_outputs.py
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from paths import FIXTURES, REPO

from whdebug.cli import main
from whdebug.formats.read import read_request_file
from whdebug.model.definition import load_definition
from whdebug.model.request import Capture, ForwardResult, Reply, Source
from whdebug.store.store import Store

GOLDEN = Path(__file__).resolve().parent / "golden" / "json_outputs.json"
NOW = "2025-11-24T16:00:05Z"
T0 = datetime(2025, 11, 24, 15, 0, 0, 123456, tzinfo=UTC)
API_URLS = ("https://api.example.com", "https://api.example.com/", "http://api.example.com/v1?x=1")


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


def _credentials(bag: dict[str, str], flag: str) -> list[str]:
    return [part for key, value in bag.items() for part in (flag, f"{key}={value}")]


def _cases() -> Iterator[tuple[str, list[str]]]:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    for scenario in manifest["scenarios"]:
        files = [part for name in scenario["files"]
                 for part in ("--file", _name(FIXTURES / name))]
        yield f"replay {scenario['name']}", [
            "replay", "--definition", _name(FIXTURES / scenario["definition"]), *files,
            *_credentials(scenario["credentials"], "--credential"),
            *_credentials(scenario["config"], "--config"), "--now", scenario["now"], "--json"]
    definitions = sorted(p for p in (FIXTURES / "definitions").rglob("*") if p.is_file())
    for path in definitions:
        yield f"check {_name(path)}", ["check", _name(path), "--json"]
        yield f"check --submission {_name(path)}", ["check", _name(path), "--submission",
                                                    "--json"]
        for api_url in API_URLS:
            yield f"urls {_name(path)} {api_url}", ["urls", _name(path), "--api-url", api_url,
                                                    "--json"]
        yield from _source_cases(path)
    for name in ("salla.json", "salla-broken-sync.json"):
        definition = _name(FIXTURES / "definitions" / name)
        samples = _name(FIXTURES / "samples" / "salla")
        yield f"check --samples {name}", ["check", definition, "--samples", samples,
                                          "--now", NOW, "--json"]
        yield f"check --samples {name} signed", [
            "check", definition, "--samples", samples, "--now", NOW, "--json",
            "--credential", "webhookSecret=golden-secret"]
    for path in sorted((FIXTURES / "definitions" / "sync").iterdir()):
        yield f"sync {path.name}", ["sync", _name(path), "--samples",
                                    _name(FIXTURES / "samples" / "sync"), "--json"]


def _source_cases(path: Path) -> Iterator[tuple[str, list[str]]]:
    try:
        sources = load_definition(path).data.get("source")
    except Exception:
        return
    if not isinstance(sources, dict):
        return
    for key in sorted(sources):
        for response in sorted((FIXTURES / "rpc").iterdir()):
            yield f"source {_name(path)} {key} {response.name}", [
                "source", _name(path), key, "--response", _name(response), "--json"]


def _captures() -> list[Capture]:
    """Every fixture request, stamped with a fixed arrival, client and answer."""
    files = sorted((FIXTURES / "requests").iterdir())
    captures: list[Capture] = []
    for number, path in enumerate(files):
        for capture in read_request_file(path):
            moment = T0 + timedelta(seconds=number, microseconds=number)
            captures.append(Capture(
                capture.request,
                Source(received_at=moment, client=f"127.0.0.1:{40000 + number}"),
                capture.reply if capture.reply is not None
                else Reply(200 + number % 3, b'{"ok":true}' if number % 2 else None),
                ForwardResult(202, b"fw\xff") if number % 4 == 0 else None,
            ))
    return captures


def _store_outputs(runner: CliRunner, directory: Path) -> dict[str, str]:
    store_path = directory / "golden.db"
    with Store.open(store_path) as store:
        ids = store.insert_many(_captures())
    outputs: dict[str, str] = {}
    result = runner.invoke(main, ["list", "--json", "--store", str(store_path)])
    outputs["list --json"] = f"exit {result.exit_code}\n{result.stdout}"
    for capture_id in ids:
        for format_name in ("json", "har", "http"):
            result = runner.invoke(main, ["export", str(capture_id), "--format", format_name,
                                          "--store", str(store_path)])
            outputs[f"export {capture_id} {format_name}"] = (
                f"exit {result.exit_code}\n{result.stdout_bytes.decode('latin-1')}")
    outputs["bundle"] = _bundle(runner, directory)
    return outputs


def _bundle(runner: CliRunner, directory: Path) -> str:
    target = directory / "bundle.zip"
    requests = sorted((FIXTURES / "requests").glob("github-*.http"))
    result = runner.invoke(main, [
        "bundle", "--definition", _name(FIXTURES / "definitions" / "github.json"),
        *[_name(path) for path in requests], "--now", NOW, "-o", str(target),
        "--credential", "webhookSecret=fixture-github-webhook-secret"])
    if not target.exists():
        return f"exit {result.exit_code}\n{result.output}"
    with zipfile.ZipFile(io.BytesIO(target.read_bytes())) as archive:
        reports = [name for name in archive.namelist() if name.endswith(".json")]
        parts = [f"== {name}\n{archive.read(name).decode('utf-8')}" for name in sorted(reports)]
    return f"exit {result.exit_code}\n" + "\n".join(parts)


def produce(directory: Path) -> dict[str, str]:
    """Every case's exit status and exact stdout."""
    runner = CliRunner()
    outputs: dict[str, str] = {}
    for name, args in _cases():
        result = runner.invoke(main, args)
        outputs[name] = f"exit {result.exit_code}\n{result.stdout}"
    outputs.update(_store_outputs(runner, directory))
    return outputs


def test_outputs_are_byte_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    produced = produce(tmp_path)
    assert sorted(produced) == sorted(expected)
    different = [name for name in expected if produced[name] != expected[name]]
    for name in different[:3]:
        assert produced[name] == expected[name], name
    assert not different


if __name__ == "__main__":
    import os
    import tempfile

    os.chdir(REPO)
    with tempfile.TemporaryDirectory() as folder:
        outputs = produce(Path(folder))
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(outputs, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"{len(outputs)} outputs written to {GOLDEN}")
