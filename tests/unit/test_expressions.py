"""Expression classifier, the emotion stage (quality gate, budget, disabled switch) and the
`storelens expressions` command, on real faces.

CK+48 faces are read from ../shared/data/faces (research use only, never copied here); the tests
needing them skip when it is absent. The clear examples were picked as each sequence's peak
frame: happy S010_006_00000015 (broad smile), S014_005_00000017, S026_006_00000013; surprise
S010_002_00000014 (mouth open, brows raised), S011_001_00000015. The video frames are those of
tests/data/faces_annotations.json (head-pose clip: frame 0 both faces turned slightly, frame 27
both heads rolled; the woman is in a three-quarter view).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest
from typer.testing import CliRunner

from factories import make_tracks
from storelens.analytics.emotion import (
    REASON_COASTING,
    REASON_DEFERRED,
    REASON_FACING_AWAY,
    REASON_NOT_FRONTAL,
    REASON_TOO_SMALL,
    STILL_ALIGNED,
    STILL_TIGHT,
    EmotionStage,
    ExpressionReading,
    feed_tracker,
    read_still,
    reading_quality,
)
from storelens.analytics.expressions import ExpressionTracker
from storelens.cli.commands.expressions import read_list
from storelens.cli.main import app
from storelens.config.emotion import EmotionConfig
from storelens.config.store import StoreConfig
from storelens.core.types import KP, NUM_KEYPOINTS, Tracks
from storelens.vision.expressions import EXPRESSION_LABELS, UNCERTAIN, ExpressionClassifier, calibrate
from storelens.vision.faces import FaceDetector
from testdata import TEST_DATA, shared_data, shared_data_path

CK = shared_data_path("faces", "CK+48")  # research use only: read in place, never copied
HEAD_POSE = shared_data_path("video", "head-pose-face-detection-female-and-male.gif")
ANNOTATIONS = json.loads((TEST_DATA / "faces_annotations.json").read_text())

CLEAR = [
    ("happy", "S010_006_00000015.png"),
    ("happy", "S014_005_00000017.png"),
    ("happy", "S026_006_00000013.png"),
    ("surprise", "S010_002_00000014.png"),
    ("surprise", "S011_001_00000015.png"),
]


def ck_image(label: str, name: str) -> npt.NDArray[np.uint8]:
    path = shared_data("faces", "CK+48", label, name)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None
    return np.asarray(img, np.uint8)


def head_pose_frame(index: int) -> npt.NDArray[np.uint8]:
    with av.open(str(shared_data("video", HEAD_POSE.name))) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)
    raise AssertionError("frame missing")


def tracks_for(index: int, detection_index: list[int] | None = None) -> Tracks:
    """Person tracks built from the hand-annotated faces: a body box under each face and pose
    keypoints (nose, eyes) where a pose model would put them."""
    faces = next(
        np.asarray(f["faces"], np.float32)
        for f in ANNOTATIONS["frames"]
        if f["clip"] == HEAD_POSE.name and f["frame"] == index
    )
    n = len(faces)
    kp = np.zeros((n, NUM_KEYPOINTS, 3), np.float32)
    boxes = []
    for i, (x1, y1, x2, y2) in enumerate(faces):
        w, cx, cy = x2 - x1, (x1 + x2) / 2, (y1 + y2) / 2
        kp[i, KP["nose"]] = [cx, cy, 0.9]
        kp[i, KP["left_eye"]] = [cx + 0.2 * w, cy - 0.15 * w, 0.9]
        kp[i, KP["right_eye"]] = [cx - 0.2 * w, cy - 0.15 * w, 0.9]
        boxes.append([x1 - 1.2 * w, y1 - 0.3 * w, x2 + 1.2 * w, 270])
    return make_tracks(
        boxes, np.arange(n) + 100, detection_index=detection_index, keypoints=kp, visit_id=np.arange(n) + 7000
    )


@pytest.fixture(scope="module")
def classifier() -> ExpressionClassifier:
    return ExpressionClassifier(threads=1, device="cpu")


@pytest.fixture(scope="module")
def detectors() -> list[FaceDetector]:
    return [FaceDetector(v, threads=1, device="cpu") for v in ("short_range", "full_range")]


@pytest.fixture(scope="module")
def stage(detectors: list[FaceDetector], classifier: ExpressionClassifier) -> EmotionStage:
    return EmotionStage(EmotionConfig(), detector=detectors[0], classifier=classifier)


# classifier ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("label", "name"), CLEAR)
def test_clear_ck_faces_get_the_right_label(
    label: str, name: str, detectors: list[FaceDetector], classifier: ExpressionClassifier
) -> None:
    r = read_still(ck_image(label, name), detectors, classifier)
    assert r.crop == STILL_TIGHT  # a 48x48 face is a tight crop already: read whole, no detector
    assert r.label == label
    assert r.probs.shape == (7,) and r.probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_still_path_aligns_only_a_sure_face_that_does_not_fill_the_image(
    detectors: list[FaceDetector], classifier: ExpressionClassifier
) -> None:
    face = ck_image("happy", "S010_006_00000015.png")
    # the same face scaled up so it fills the image: tight by the detected face's size
    big = np.asarray(cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC), np.uint8)
    assert read_still(big, detectors, classifier).crop == STILL_TIGHT
    # the face in the middle of a larger scene: the detector is sure, so it is aligned, and the
    # label is the same as on the crop
    scene = np.asarray(cv2.copyMakeBorder(big, 160, 160, 160, 160, cv2.BORDER_REPLICATE), np.uint8)
    r = read_still(scene, detectors, classifier)
    assert r.crop == STILL_ALIGNED and r.label == "happy"
    # a detector never sure enough: the scene is read whole, not aligned on landmarks it doubts
    unsure = read_still(scene, detectors, classifier, EmotionConfig(align_min_score=1.0))
    assert unsure.whole_image and unsure.crop != STILL_ALIGNED


def test_calibration_keeps_the_label_and_abstains_below_min_confidence(
    detectors: list[FaceDetector], classifier: ExpressionClassifier
) -> None:
    p = classifier.predict(np.random.default_rng(3).integers(0, 255, (4, 64, 64), dtype=np.uint8))
    np.testing.assert_allclose(calibrate(p, 1.0), p, atol=1e-6)
    hot = calibrate(p, 2.0)
    assert (hot.argmax(1) == p.argmax(1)).all() and (hot.max(1) < p.max(1) + 1e-9).all()
    np.testing.assert_allclose(hot.sum(1), 1.0)
    with pytest.raises(ValueError, match="temperature"):
        calibrate(p, 0.0)
    face = ck_image("happy", "S010_006_00000015.png")
    sure = read_still(face, detectors, classifier)
    assert sure.label == "happy" and sure.confidence >= EmotionConfig().min_confidence
    doubt = read_still(face, detectors, classifier, EmotionConfig(min_confidence=min(1.0, sure.confidence + 0.01)))
    assert doubt.label == UNCERTAIN


def test_classifier_batches_and_validates(classifier: ExpressionClassifier) -> None:
    assert classifier.predict(np.zeros((0, 64, 64), np.uint8)).shape == (0, 7)
    crops = np.random.default_rng(0).integers(0, 255, (3, 64, 64), dtype=np.uint8)
    batch = classifier.predict(crops)
    single = np.concatenate([classifier.predict(crops[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    with pytest.raises(ValueError, match="64, 64"):
        classifier.predict(np.zeros((1, 48, 48), np.uint8))


def test_flip_average_is_symmetric() -> None:
    clf = ExpressionClassifier(flip_average=True, threads=1, device="cpu")
    crop = np.random.default_rng(1).integers(0, 255, (1, 64, 64), dtype=np.uint8)
    np.testing.assert_allclose(clf.predict(crop), clf.predict(crop[:, :, ::-1].copy()), atol=1e-6)


def test_uniform_image_falls_back_to_whole_image(
    detectors: list[FaceDetector], classifier: ExpressionClassifier
) -> None:
    r = read_still(np.full((48, 48, 3), 128, np.uint8), detectors, classifier)
    assert r.whole_image and r.label in (*EXPRESSION_LABELS, UNCERTAIN)
    np.testing.assert_array_equal(r.face_xyxy, [0, 0, 48, 48])


# stage -----------------------------------------------------------------------------------------
def test_stage_reads_frontal_face_and_gates_turned_one(stage: EmotionStage) -> None:
    img = head_pose_frame(27)
    tracks = tracks_for(27)
    readings = stage.process(img, tracks, ts=1.0)
    assert set(readings) == {0, 1}
    woman, man = readings[0], readings[1]
    # the man faces the camera, head rolled: read, with a face box matching the annotation
    assert man.probs is not None and man.reason is None
    assert man.probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert 0.5 < man.quality <= 1.0 and man.face_px > 40
    assert man.label in (*EXPRESSION_LABELS, UNCERTAIN) and man.track_id == 101
    # the woman is in a three-quarter view: unknown, not a guess
    assert woman.probs is None and woman.reason == REASON_NOT_FRONTAL and woman.label == "unknown"
    assert woman.face_xyxy is not None  # found, just not readable
    assert sorted(stage.last_faces.track_row.tolist()) == [0, 1]


def test_face_is_not_read_when_the_pose_sees_no_facial_feature(stage: EmotionStage) -> None:
    # The demo clip showed BlazeFace finding "faces" on the backs of heads; the pose keypoints of the
    # same person (nose and eyes invisible) must veto the reading.
    img = head_pose_frame(27)
    tracks = tracks_for(27)
    assert tracks.keypoints is not None
    hidden = tracks.keypoints.copy()
    hidden[1, :3, 2] = 0.05  # the man: nose and eyes not visible to the pose model
    readings = stage.process(img, tracks.replace(keypoints=hidden), ts=1.0)
    man = readings[1]
    assert man.probs is None and man.reason == REASON_FACING_AWAY and man.label == "unknown"
    assert man.face_xyxy is not None  # still found (and blurred by the redaction), just not read


def test_frame_search_attaches_faces_to_people(detectors: list[FaceDetector], classifier: ExpressionClassifier) -> None:
    st = EmotionStage(EmotionConfig(face_search="frame"), detector=detectors[1], classifier=classifier)
    readings = st.process(head_pose_frame(27), tracks_for(27), ts=0.0)
    assert all(r.face_xyxy is not None for r in readings.values())
    assert sorted(st.last_faces.track_row.tolist()) == [0, 1]


def test_small_faces_are_unknown(detectors: list[FaceDetector], classifier: ExpressionClassifier) -> None:
    st = EmotionStage(
        EmotionConfig(min_face_px=200, full_quality_face_px=200), detector=detectors[0], classifier=classifier
    )
    readings = st.process(head_pose_frame(27), tracks_for(27), ts=0.0)
    assert {r.reason for r in readings.values()} == {REASON_TOO_SMALL}
    assert all(r.probs is None and r.quality == 0.0 for r in readings.values())


def test_disabled_config_does_nothing() -> None:
    cfg = StoreConfig.model_validate(
        {"store_id": "s", "cameras": [{"id": "c", "source": "x.mp4"}], "emotion": {"enabled": False}}
    )
    st = EmotionStage(cfg.emotion)
    assert st.process(np.zeros((10, 10, 3), np.uint8), tracks_for(27), ts=0.0) == {}
    assert st._detector is None and st._classifier is None  # no model was even loaded
    assert len(st.last_faces) == 0


def test_coasting_rows_and_budget(detectors: list[FaceDetector], classifier: ExpressionClassifier) -> None:
    img = head_pose_frame(27)
    coasting = EmotionStage(EmotionConfig(), detector=detectors[0], classifier=classifier)
    readings = coasting.process(img, tracks_for(27, detection_index=[-1, 1]), ts=0.0)
    assert readings[0].reason == REASON_COASTING and readings[1].face_xyxy is not None
    # one face search per frame: the two people take turns, the larger one first
    st = EmotionStage(EmotionConfig(max_faces=1), detector=detectors[0], classifier=classifier)
    tracks = tracks_for(27)
    first = st.process(img, tracks, ts=0.0)
    second = st.process(img, tracks, ts=0.1)
    larger = int(np.argmax((tracks.xyxy[:, 2] - tracks.xyxy[:, 0]) * (tracks.xyxy[:, 3] - tracks.xyxy[:, 1])))
    assert first[1 - larger].reason == REASON_DEFERRED and first[larger].reason != REASON_DEFERRED
    assert second[larger].reason == REASON_DEFERRED and second[1 - larger].reason != REASON_DEFERRED


def test_feed_tracker_uses_visit_ids(stage: EmotionStage) -> None:
    tracks = tracks_for(27)
    tracker = ExpressionTracker()
    for k in range(3):
        feed_tracker(tracker, tracks, stage.process(head_pose_frame(27), tracks, ts=k * 0.1), ts=k * 0.1)
    assert sorted(tracker.subjects()) == [7000, 7001]
    man, woman = tracker.current(7001), tracker.current(7000)
    assert man is not None and man.n_readings == 3 and man.label in EXPRESSION_LABELS
    assert woman is not None and woman.label == "unknown" and woman.n_unknown == 3


def test_uncertain_readings_do_not_reach_the_visit_summary(
    detectors: list[FaceDetector], classifier: ExpressionClassifier
) -> None:
    tracks = tracks_for(27)
    img = head_pose_frame(27)
    sure = EmotionStage(EmotionConfig(min_confidence=0.0), detector=detectors[0], classifier=classifier)
    man = sure.process(img, tracks, ts=0.0)[1]
    assert man.probs is not None and not man.uncertain
    # the same frame with a bar above the man's confidence: uncertain, no label, not summarised
    bar = min(1.0, float(man.probs.max()) + 0.01)
    doubt = EmotionStage(EmotionConfig(min_confidence=bar), detector=detectors[0], classifier=classifier)
    tracker = ExpressionTracker()
    for k in range(3):
        readings = doubt.process(img, tracks, ts=k * 0.1)
        assert readings[1].uncertain and readings[1].label == UNCERTAIN
        feed_tracker(tracker, tracks, readings, ts=k * 0.1)
    state = tracker.current(7001)
    assert state is not None and state.n_readings == 0 and state.label == "unknown" and state.n_unknown == 3


def test_unsure_face_is_cropped_upright(detectors: list[FaceDetector], classifier: ExpressionClassifier) -> None:
    tracks = tracks_for(27)
    img = head_pose_frame(27)
    trusting = EmotionStage(EmotionConfig(align_min_score=0.0), detector=detectors[0], classifier=classifier)
    doubting = EmotionStage(EmotionConfig(align_min_score=1.0), detector=detectors[0], classifier=classifier)
    a, b = trusting.process(img, tracks, ts=0.0)[1], doubting.process(img, tracks, ts=0.0)[1]
    assert isinstance(a, ExpressionReading) and a.aligned and not b.aligned
    assert a.probs is not None and b.probs is not None
    assert not np.allclose(a.probs, b.probs)  # the head is rolled: levelling it changes the crop


def test_stage_rejects_bad_input(stage: EmotionStage) -> None:
    with pytest.raises(ValueError, match="uint8"):
        stage.process(np.zeros((10, 10), np.uint8), Tracks.empty(), 0.0)
    with pytest.raises(ValueError, match="finite"):
        stage.process(np.zeros((10, 10, 3), np.uint8), Tracks.empty(), float("nan"))
    assert stage.process(np.zeros((10, 10, 3), np.uint8), Tracks.empty(), 0.0) == {}


def test_quality_combines_size_and_frontality() -> None:
    q = reading_quality([20, 40, 80, 40], [1.0, 1.0, 1.0, 0.5], full_quality_face_px=40)
    np.testing.assert_allclose(q, [0.5, 1.0, 1.0, 0.5])


def test_emotion_config_bounds() -> None:
    with pytest.raises(ValueError, match="full_quality_face_px"):
        EmotionConfig(min_face_px=50, full_quality_face_px=40)
    with pytest.raises(ValueError):
        EmotionConfig(detector="huge")  # type: ignore[arg-type]


# CLI -------------------------------------------------------------------------------------------
def test_cli_writes_labels_and_reports_bad_files(tmp_path: Path) -> None:
    happy = shared_data("faces", "CK+48", "happy", "S010_006_00000015.png")
    surprise = CK / "surprise" / "S010_002_00000014.png"
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((48, 48, 3), 128, np.uint8))  # not a face: whole-image fallback
    (tmp_path / "broken.png").write_bytes(b"not an image")
    lst = tmp_path / "list.txt"
    lst.write_text(f"# faces\n{happy}\n{surprise}\n\nblank.png\nbroken.png\nmissing.png\n")
    out = tmp_path / "out" / "labels.csv"
    result = CliRunner().invoke(app, ["expressions", "--list", str(lst), "--out", str(out), "--threads", "1"])
    assert result.exit_code == 1, result.output
    assert "broken.png: cannot read image" in result.output and "missing.png" in result.output
    rows = list(csv.DictReader(out.open()))
    assert [r["path"] for r in rows] == [str(happy), str(surprise), "blank.png"]
    assert [r["label"] for r in rows][:2] == ["happy", "surprise"]
    assert rows[2]["label"] in (*EXPRESSION_LABELS, UNCERTAIN)
    assert all(0.0 < float(r["confidence"]) <= 1.0 for r in rows)
    assert "3 read whole" in result.output  # all three are 48x48 crops


def test_list_file_may_be_a_csv_with_path_column(tmp_path: Path) -> None:
    lst = tmp_path / "labels.csv"
    lst.write_text("path,label\na.png,happy\nb.png,sad\n")
    assert read_list(lst) == ["a.png", "b.png"]


# staff never reach the expression model (issue 19, EU AI Act Art. 5(1)(f)) ----------------------
class CountingClassifier(ExpressionClassifier):
    """The real model, counting how many face crops it was given."""

    def __init__(self) -> None:
        super().__init__(threads=1, device="cpu")
        self.crops = 0

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        self.crops += len(crops)
        return super().predict(crops)


def staff_store(staff_zone_on: int | None, uniform: bool = False) -> StoreConfig:
    """One camera over the head-pose clip; a staff_only zone under the feet of person ``staff_zone_on``
    (row of :func:`tracks_for`), and an aisle zone under everybody's."""
    feet = tracks_for(27).bottom_center
    zones: list[dict[str, object]] = [
        {"id": "aisle", "kind": "aisle", "camera": "cam", "points": [[0, 200], [480, 200], [480, 280], [0, 280]]}
    ]
    if staff_zone_on is not None:
        x = float(feet[staff_zone_on][0])
        pts = [[x - 15, 240], [x + 15, 240], [x + 15, 280], [x - 15, 280]]
        zones.append({"id": "stockroom", "kind": "staff_only", "camera": "cam", "points": pts})
    staff: dict[str, object] = {"min_observed_s": 0.3}
    if uniform:
        staff["uniform"] = {"hsv_low": [22, 150, 150], "hsv_high": [34, 255, 255]}  # a hi-vis vest nobody wears
    return StoreConfig.model_validate(
        {
            "store_id": "s",
            "cameras": [{"id": "cam", "source": "x.mp4"}],
            "zones": zones,
            "behaviour": {"staff": staff},
            "emotion": {"enabled": True, "max_faces": 5, "min_confidence": 0.0, "threads": 1, "device": "cpu"},
            "intent": {"enabled": False},
        }
    )


def run_stages(store: StoreConfig, frames: int) -> tuple[list[object], list[dict[int, object]], CountingClassifier]:
    from storelens.core.types import Frame
    from storelens.pipeline.build import make_stages
    from storelens.pipeline.stages import EmotionStageAdapter

    stages = make_stages(store, "cam")
    emotion = next(s for s in stages if isinstance(s, EmotionStageAdapter))
    spy = CountingClassifier()
    emotion.stage._classifier = spy
    img = head_pose_frame(27)
    tracks = tracks_for(27)
    per_frame: list[dict[int, object]] = []
    events: list[object] = []
    original = emotion.stage.process

    def recording(*args: object, **kw: object) -> dict[int, ExpressionReading]:
        out = original(*args, **kw)  # type: ignore[arg-type]
        per_frame.append({r.track_id: r for r in out.values()})
        return out

    emotion.stage.process = recording  # type: ignore[method-assign]
    for k in range(frames):
        frame = Frame("cam", k, k * 0.1, 1_700_000_000 + k * 0.1, img)
        evs: list[object] = []
        for st in stages:
            evs.extend(st.update(frame, tracks, evs))  # type: ignore[arg-type]
        events += evs
    for st in stages:
        events += st.close(frames * 0.1, 1_700_000_000 + frames * 0.1, [])  # type: ignore[arg-type]
    return events, per_frame, spy


def test_a_staff_subject_has_no_expression_reading_at_all() -> None:
    # the man (row 1, track 101, visit 7001) is readable (see above); he stands in a staff_only zone
    events, per_frame, spy = run_stages(staff_store(staff_zone_on=1), frames=12)
    assert all(101 not in readings for readings in per_frame)  # never searched, never read, not even "unknown"
    assert spy.crops == 0  # the woman (not frontal) is the only one looked at: no crop reaches the model
    assert not any(getattr(e, "type", None) == "expression.summary" for e in events)
    # and a shopper is read once the staff rules have cleared him: the zone under the woman instead
    events, per_frame, spy = run_stages(staff_store(staff_zone_on=0), frames=12)
    assert all(100 not in r for r in per_frame)
    first = [r[101] for r in per_frame if 101 in r]
    assert per_frame[0] == {} and first  # unknown at first (not yet observed min_observed_s): not read
    assert spy.crops == len(first) and all(r.probs is not None for r in first)  # type: ignore[attr-defined]


def test_without_a_staff_rule_nobody_is_read() -> None:
    _, per_frame, spy = run_stages(staff_store(staff_zone_on=None), frames=6)
    assert all(r == {} for r in per_frame) and spy.crops == 0
    # a uniform rule is a staff rule: after three torso checks without the vest, both are shoppers
    _, per_frame, spy = run_stages(staff_store(staff_zone_on=None, uniform=True), frames=6)
    assert per_frame[0] == {} and set(per_frame[-1]) == {100, 101} and spy.crops > 0
