"""No biometric categorisation: no age, gender, ethnicity or other protected attribute is inferred,
stored or emitted anywhere (issue 19; EU AI Act Art. 5(1)(g), GDPR Art. 9).

Checked where such a value would have to appear if it existed: what each bundled model outputs
(output names, sizes, embedded metadata and class names), every identifier and identifier-like
string in the source (event types, payload keys, config fields, API fields), the event and config
schemas, the database columns, the API's OpenAPI document, and the events of a real run of the
emotion and behaviour stages. A new model head, payload key, column or field named after such an
attribute fails this test.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest

from storelens.config.store import StoreConfig
from storelens.events.models import Event, EventType
from storelens.storage.models import load_all_models
from storelens.vision.expressions import EXPRESSION_LABELS
from testdata import REPO

ROOT = REPO
SRC = ROOT / "src" / "storelens"
MODELS = ROOT / "models"

PROTECTED = {
    "age", "ages", "aged", "gender", "genders", "sex", "sexes", "male", "female", "ethnicity", "ethnic", "race",
    "racial", "skin", "religion", "religious", "nationality", "sexual", "political", "disability", "disabled",
    "pregnant", "pregnancy", "birth", "dob", "demographic", "demographics", "attractiveness", "beauty",
    "bmi", "height_cm", "glasses", "beard", "hair", "identity", "embedding", "faceprint",
}  # fmt: skip
"""Words (identifier tokens) that would name a protected attribute or an identity template."""

ALLOWED = {
    # exact names (not tokens: a new "age_estimate" is still caught) that share a word, and why
    "age": "how old a speed sample is, in seconds (intent/features.py)",
    "max_age": "frames a lost track is kept (tracking)",
    "max_age_s": "seconds a lost track is kept (tracking)",
    "_max_age_s": "the same, stored",
    "_birth": "starting new tracks from unmatched detections (kalman_tracker.py)",
    "low_birth_score": "a track started from a low-score small detection (tracking/params.py)",
    "low_birth_hits": "matches that confirm such a track (tracking/params.py)",
    "low_birth_gap_s": "how long such a tentative track may go unmatched (tracking/params.py)",
    "_low_birth_gap_s": "the same, stored",
    "low_birth_max_height": "the box height below which that rule applies (tracking/params.py)",
    "_low_birth": "the same rule, stored (kalman_tracker.py)",
    "_low_birth_score": "the same, stored",
    "_low_birth_hits": "the same, stored",
    "_low_birth_max_height": "the same, stored",
    "low_birth_dup_inside": "a low-score box inside a confident one is a duplicate (tracking/params.py)",
    "_low_birth_dup_inside": "the same, stored",
    "_identity": "the IDF1 tracking metric (tracking/evaluation.py)",
    "disabled": "a user account that is switched off (security)",
    "users.disabled": "the same, its column",
    "max-age": "an HTTP Cache-Control directive",
}
"""Names that contain a listed word but are not about people; each with where it comes from."""


def tokens(name: str) -> set[str]:
    """snake_case, camelCase, dotted and dashed names to lower-case word tokens."""
    parts = re.split(r"[^A-Za-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name))
    return {p.lower() for p in parts if p}


def offending(names: Any) -> set[str]:
    out = set()
    for n in names:
        bad = tokens(str(n)) & PROTECTED
        if bad and str(n) not in ALLOWED:
            out.add(f"{n} ({', '.join(sorted(bad))})")
    return out


def json_keys(obj: Any) -> set[str]:
    """Every key and every string value that looks like a name, recursively."""
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(str(k))
            out |= json_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            out |= json_keys(v)
    elif isinstance(obj, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]{0,60}", obj):
        out.add(obj)
    return out


def test_the_word_list_catches_what_it_should() -> None:
    # the check itself can fail: these names would be flagged
    assert offending(["ageEstimate", "gender_probs", "payload.ethnicity", "face-embedding"]) == {
        "ageEstimate (age)",
        "gender_probs (gender)",
        "payload.ethnicity (ethnicity)",
        "face-embedding (embedding)",
    }
    assert not offending(["image", "page", "storage", "average", "message", "usage", "stage"])


@pytest.mark.parametrize("model", sorted(MODELS.glob("*.onnx")), ids=lambda p: p.name)
def test_no_bundled_model_outputs_a_protected_attribute(model: Path) -> None:
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    outputs = sess.get_outputs()
    meta = sess.get_modelmeta()
    names = [o.name for o in outputs] + list(meta.custom_metadata_map) + [meta.producer_name, meta.graph_name]
    for value in meta.custom_metadata_map.values():  # e.g. YOLO's embedded class names
        names += re.findall(r"[A-Za-z_][A-Za-z0-9_ ]*", value)
    assert not offending(names), model.name
    if model.name.startswith("emotion"):
        # one head, seven expression classes: nothing else comes out of the face model
        assert len(outputs) == 1 and outputs[0].shape[-1] == len(EXPRESSION_LABELS) == 7
        assert not offending(EXPRESSION_LABELS)


def source_names() -> set[str]:
    """Identifiers and identifier-like string constants (keys, event types) of every module."""
    out: set[str] = set()
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                out.add(node.id)
            elif isinstance(node, ast.Attribute):
                out.add(node.attr)
            elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
                out.add(str(node.arg))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(node.name)
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]{0,60}", node.value)
            ):
                out.add(node.value)
    return out


def test_no_source_name_is_a_protected_attribute() -> None:
    names = source_names()
    assert "expression.summary" in names and "face_xyxy" in names  # the scan sees keys and fields
    assert not offending(names)


def test_no_event_type_config_field_or_db_column_is_a_protected_attribute() -> None:
    assert not offending(e.value for e in EventType)
    assert not offending(json_keys(Event.model_json_schema()))
    assert not offending(json_keys(StoreConfig.model_json_schema()))
    meta = load_all_models()
    columns = [f"{t.name}.{c.name}" for t in meta.tables.values() for c in t.columns]
    assert len(columns) > 20 and any(c.startswith("events.") for c in columns)
    assert not offending(columns)


def test_the_api_emits_no_protected_attribute(tmp_path: Path) -> None:
    from storelens.service.app import create_app
    from storelens.service.deps import ServiceDeps, ServiceSettings

    store = StoreConfig(store_id="s", cameras=[{"id": "cam", "source": "x.mp4"}], emotion={"enabled": True})
    settings = ServiceSettings(store=store, database_url=str(tmp_path / "s.db"), run_pipelines=False)
    app = create_app(settings, ServiceDeps.build(settings))
    schema = app.openapi()
    assert "/api/v1/events" in json.dumps(schema)
    assert not offending(json_keys(schema))
