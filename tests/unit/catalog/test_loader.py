"""The course loader: valid files load; any problem names file and line and loads nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from lms.catalog.definition import Audience
from lms.catalog.loader import CourseFileError, load_catalog, load_course, version_sha256
from lms.config import PROJECT_ROOT
from tests.factories import course_files, write_course


def problems_of(course_dir: Path) -> list[str]:
    with pytest.raises(CourseFileError) as caught:
        load_course(course_dir)
    return [str(p) for p in caught.value.problems]


def test_valid_course_loads_with_all_languages(tmp_path: Path) -> None:
    definition = load_course(write_course(tmp_path))
    assert definition.key == "basics"
    assert definition.languages == ("en", "nb")
    assert [m.slug for m in definition.modules] == ["first", "second"]
    assert definition.modules[0].title == {"en": "Module first", "nb": "Modul first"}
    assert len(definition.questions) == 6
    assert definition.audience == Audience(everyone=True)
    assert definition.question("q6").correct_ids == {"right", "also"}


def test_version_ignores_line_endings_but_not_content(tmp_path: Path) -> None:
    course_dir = write_course(tmp_path)
    original = version_sha256(course_dir)
    module = course_dir / "modules" / "first.en.md"
    module.write_bytes(module.read_bytes().replace(b"\n", b"\r\n"))
    assert version_sha256(course_dir) == original
    module.write_text(module.read_text(encoding="utf-8") + "One more sentence.\n", encoding="utf-8")
    assert version_sha256(course_dir) != original


def test_unknown_key_is_reported_with_its_line(tmp_path: Path) -> None:
    files = course_files()
    files["course.yaml"] += "colour: blue\n"
    line = files["course.yaml"].count("\n")
    assert problems_of(write_course(tmp_path, files=files)) == [
        f"basics/course.yaml:{line}: unknown key 'colour' in course.yaml"
    ]


def test_duplicate_key_is_reported(tmp_path: Path) -> None:
    files = course_files()
    files["course.yaml"] = "due_days: 10\n" + files["course.yaml"]
    found = problems_of(write_course(tmp_path, files=files))
    assert len(found) == 1
    assert found[0].startswith("basics/course.yaml:")
    assert "duplicate key 'due_days' (first at line 1)" in found[0]


def test_missing_translation_is_reported(tmp_path: Path) -> None:
    course_dir = write_course(tmp_path, title={"en": "Only English"})
    assert any(
        "course.yaml" in p and "missing translation 'nb' for title" in p
        for p in problems_of(course_dir)
    )


def test_question_without_correct_answer_is_reported(tmp_path: Path) -> None:
    files = course_files()
    files["quiz.yaml"] = files["quiz.yaml"].replace("correct: true", "correct: false", 1)
    found = problems_of(write_course(tmp_path, files=files))
    assert len(found) == 1
    assert found[0].startswith("basics/quiz.yaml:")
    assert "question 'q1' has no correct option" in found[0]


def test_single_choice_with_two_correct_options_is_reported(tmp_path: Path) -> None:
    files = course_files()
    files["quiz.yaml"] = files["quiz.yaml"].replace("correct: false", "correct: true", 1)
    found = problems_of(write_course(tmp_path, files=files))
    assert any("single choice but marks 2 options correct" in p for p in found)


@pytest.mark.parametrize("mark", [-1, 101, "eighty"])
def test_pass_mark_outside_0_to_100_is_reported(tmp_path: Path, mark: object) -> None:
    found = problems_of(write_course(tmp_path, pass_mark=mark))
    assert len(found) == 1
    assert "pass_mark" in found[0]


def test_listed_module_without_file_is_reported(tmp_path: Path) -> None:
    files = course_files()
    del files["modules/second.nb.md"]
    found = problems_of(write_course(tmp_path, files=files))
    assert found == [
        f"basics/course.yaml:{_line_of(files['course.yaml'], '- second')}: "
        "module 'second' has no file modules/second.nb.md"
    ]


def test_module_file_not_listed_is_reported(tmp_path: Path) -> None:
    files = course_files()
    files["modules/extra.en.md"] = "---\ntitle: Extra\n---\nBody\n"
    found = problems_of(write_course(tmp_path, files=files))
    assert found == ["basics/modules/extra.en.md:1: module 'extra' is not listed in course.yaml"]


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    files = course_files()
    files["quiz.yaml"] = "questions:\n  - id: q1\n    prompt: [unclosed\n"
    found = problems_of(write_course(tmp_path, files=files))
    assert len(found) == 1
    assert found[0].startswith("basics/quiz.yaml:")
    assert "invalid YAML" in found[0]


def test_module_without_front_matter_is_reported(tmp_path: Path) -> None:
    files = course_files()
    files["modules/first.en.md"] = "Just text\n"
    found = problems_of(write_course(tmp_path, files=files))
    assert found == [
        "basics/modules/first.en.md:1: module must start with a front matter "
        "block between '---' lines"
    ]


def test_bank_smaller_than_an_attempt_is_reported(tmp_path: Path) -> None:
    found = problems_of(write_course(tmp_path, questions_per_attempt=7))
    assert any("only 6 questions without a department tag" in p for p in found)


def test_key_must_match_folder(tmp_path: Path) -> None:
    files = course_files(key="other")
    found = problems_of(write_course(tmp_path, key="basics", files=files))
    assert any("must equal the folder name 'basics'" in p for p in found)


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ("all", Audience(everyone=True)),
        ("managers", Audience(managers=True)),
        (["sales", "customer-success"], Audience(departments=("sales", "customer-success"))),
        (["hr", "managers"], Audience(managers=True, departments=("hr",))),
    ],
)
def test_audience_forms(tmp_path: Path, audience: object, expected: Audience) -> None:
    assert load_course(write_course(tmp_path, audience=audience)).audience == expected


@pytest.mark.parametrize("audience", ["sales", [], ["all", "sales"], ["sales", "sales"], [3]])
def test_bad_audience_is_reported(tmp_path: Path, audience: object) -> None:
    found = problems_of(write_course(tmp_path, audience=audience))
    assert len(found) == 1
    assert found[0].startswith("basics/course.yaml:")


def test_one_broken_course_means_the_catalogue_loads_nothing(tmp_path: Path) -> None:
    write_course(tmp_path, "good")
    write_course(tmp_path, "bad", pass_mark=500)
    with pytest.raises(CourseFileError) as caught:
        load_catalog(tmp_path)
    assert [p.path for p in caught.value.problems] == ["courses/bad/course.yaml"]


def test_shipped_courses_are_valid_in_english_and_norwegian() -> None:
    courses = load_catalog(PROJECT_ROOT / "courses")
    keys = {c.key for c in courses}
    assert {"privacy-essentials", "security-essentials"} <= keys
    for course in courses:
        assert set(course.languages) == {"en", "nb"}
        assert len(course.questions_for(None)) >= course.questions_per_attempt


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_reminder_ladder_can_be_overridden_per_course(tmp_path: Path) -> None:
    files = course_files()
    files["course.yaml"] += (
        "reminders:\n  before_days: [14, 3]\n  on_due_day: false\n  escalate_after: 5\n"
    )
    policy = load_course(write_course(tmp_path, files=files)).reminders
    assert policy.before_days == (14, 3)
    assert policy.on_due_day is False
    assert policy.escalate_after == 5
    assert policy.copy_manager_after == 3  # defaults stay for what is not given


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("reminders:\n  before_days: [0]\n", "before_days must be a list of 1-365"),
        ("reminders:\n  nag_daily: true\n", "unknown key 'nag_daily' in reminders"),
        ("reminders:\n  copy_manager_after: 9\n", "copy_manager_after must not come after"),
        ("renew_on: '02-30'\n", "is not a day that occurs every year"),
        ("renew_on: 'January'\n", "renew_on must be a quoted month and day"),
    ],
)
def test_bad_reminder_and_renewal_settings_are_reported(
    tmp_path: Path, extra: str, message: str
) -> None:
    files = course_files()
    files["course.yaml"] += extra
    found = problems_of(write_course(tmp_path, files=files))
    assert any(message in p for p in found), found


def test_renew_on_and_renew_every_days_exclude_each_other(tmp_path: Path) -> None:
    found = problems_of(write_course(tmp_path, renew_every_days=365, renew_on="01-15"))
    assert any("either renew_on or renew_every_days" in p for p in found)
