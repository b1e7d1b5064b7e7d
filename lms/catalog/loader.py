"""Read and validate course files; any problem names file, line and issue, and loads nothing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from lms.catalog.definition import (
    EVERYONE,
    MANAGERS,
    QUESTION_TYPES,
    Audience,
    CourseDefinition,
    Module,
    Option,
    Question,
    ReminderPolicy,
    Texts,
)
from lms.catalog.yamlsource import LineDict, LineList, YamlProblem, load_yaml

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}$")
COURSE_KEYS = {
    "key",
    "languages",
    "title",
    "summary",
    "audience",
    "due_days",
    "renew_every_days",
    "renew_on",
    "reminders",
    "pass_mark",
    "questions_per_attempt",
    "max_attempts",
    "minor",
    "attestation",
    "modules",
}
REQUIRED_COURSE_KEYS = COURSE_KEYS - {
    "renew_every_days",
    "renew_on",
    "reminders",
    "max_attempts",
    "minor",
}
REMINDER_KEYS = {
    "before_days",
    "on_due_day",
    "copy_manager_after",
    "escalate_after",
    "escalate_every",
    "skip_level_after",
}
RENEW_ON = re.compile(r"^(\d{2})-(\d{2})$")
QUESTION_KEYS = {"id", "type", "department", "prompt", "options", "explanation"}
OPTION_KEYS = {"id", "correct", "text"}
FRONT_MATTER_KEYS = {"title", "minutes"}
FRONT_MATTER = re.compile(r"\A---\n(.*?\n)---\n", re.DOTALL)
MODULE_FILE = re.compile(r"^(?P<slug>[a-z0-9][a-z0-9-]*)\.(?P<lang>[a-z]{2,3})\.md$")


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class CourseFileError(Exception):
    """One or more course files are invalid; nothing from them was loaded."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def normalised(text: str) -> str:
    """LF line endings, no trailing whitespace per line, one final newline."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n") + "\n"


def course_files(course_dir: Path) -> list[Path]:
    return sorted(p for p in course_dir.rglob("*") if p.is_file() and not p.name.startswith("."))


def version_sha256(course_dir: Path) -> str:
    """sha256 over the course's normalised files, each prefixed by its relative path."""
    digest = hashlib.sha256()
    for path in course_files(course_dir):
        rel = path.relative_to(course_dir).as_posix()
        digest.update(rel.encode("utf-8") + b"\0")
        digest.update(normalised(path.read_text(encoding="utf-8")).encode("utf-8") + b"\0")
    return digest.hexdigest()


class _FileReader:
    """Collects problems for one file with the helpers that check typed fields."""

    def __init__(self, display: str, problems: list[Problem]) -> None:
        self.display = display
        self.problems = problems

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.display, line, message))

    def unknown_keys(self, mapping: LineDict, allowed: set[str], where: str) -> None:
        for key in mapping:
            if key not in allowed:
                self.problem(mapping.line_of(key), f"unknown key {key!r} in {where}")

    def missing_keys(self, mapping: LineDict, required: set[str], where: str) -> None:
        for key in sorted(required - set(mapping)):
            self.problem(mapping.line, f"missing key {key!r} in {where}")

    def integer(self, mapping: LineDict, key: str, low: int, high: int | None = None) -> int | None:
        if key not in mapping or mapping[key] is None:
            return None
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(mapping.line_of(key), f"{key} must be a whole number, got {value!r}")
            return None
        if value < low or (high is not None and value > high):
            span = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.problem(mapping.line_of(key), f"{key} must be {span}, got {value}")
            return None
        return value

    def key_value(self, mapping: LineDict, key: str, what: str) -> str | None:
        value = mapping.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not KEY_PATTERN.match(value):
            self.problem(
                mapping.line_of(key),
                f"{what} {value!r} must be lower-case letters, digits and hyphens",
            )
            return None
        return value

    def texts(self, mapping: LineDict, key: str, languages: tuple[str, ...], where: str) -> Texts:
        """A per-language text: exactly the declared languages, each non-empty."""
        if key not in mapping:
            return {}
        value = mapping[key]
        line = mapping.line_of(key)
        if not isinstance(value, LineDict):
            self.problem(line, f"{key} in {where} must map each language to a text")
            return {}
        result: Texts = {}
        for language in languages:
            text = value.get(language)
            if text is None:
                self.problem(line, f"missing translation {language!r} for {key} in {where}")
            elif not isinstance(text, str) or not text.strip():
                self.problem(value.line_of(language), f"{key} ({language}) in {where} is empty")
            else:
                result[language] = text.strip()
        for language in value:
            if language not in languages:
                self.problem(
                    value.line_of(language),
                    f"language {language!r} in {key} is not declared in languages",
                )
        return result


def _read_yaml(path: Path, display: str, problems: list[Problem]) -> LineDict | None:
    if not path.is_file():
        problems.append(Problem(display, 1, "file is missing"))
        return None
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        problems.append(Problem(display, 1, "file is not UTF-8 text"))
        return None
    except YamlProblem as problem:
        problems.append(Problem(display, problem.line, f"invalid YAML: {problem.message}"))
        return None
    if not isinstance(data, LineDict):
        problems.append(Problem(display, 1, "the file must hold a mapping of keys to values"))
        return None
    return data


def _read_languages(course: LineDict, reader: _FileReader) -> tuple[str, ...]:
    value = course.get("languages")
    if value is None:
        return ()
    if not isinstance(value, LineList) or not value:
        reader.problem(course.line_of("languages"), "languages must be a non-empty list")
        return ()
    languages: list[str] = []
    for item, line in zip(value, value.item_lines, strict=True):
        if not isinstance(item, str) or not LANGUAGE_PATTERN.match(item):
            reader.problem(line, f"language {item!r} must be a two- or three-letter code")
        elif item in languages:
            reader.problem(line, f"language {item!r} is listed twice")
        else:
            languages.append(item)
    return tuple(languages)


def _read_audience(course: LineDict, reader: _FileReader) -> Audience:
    value = course.get("audience")
    line = course.line_of("audience")
    if value == EVERYONE:
        return Audience(everyone=True)
    if value == MANAGERS:
        return Audience(managers=True)
    if not isinstance(value, LineList) or not value:
        reader.problem(
            line, "audience must be 'all', 'managers' or a non-empty list of department keys"
        )
        return Audience()
    keys: list[str] = []
    managers = False
    for item, item_line in zip(value, value.item_lines, strict=True):
        if item == MANAGERS:
            managers = True
        elif item == EVERYONE:
            reader.problem(item_line, "'all' cannot be combined with other audiences")
        elif not isinstance(item, str) or not KEY_PATTERN.match(item):
            reader.problem(item_line, f"department key {item!r} is not a valid key")
        elif item in keys:
            reader.problem(item_line, f"department {item!r} is listed twice")
        else:
            keys.append(item)
    return Audience(managers=managers, departments=tuple(keys))


def _read_renew_on(course: LineDict, reader: _FileReader) -> tuple[int, int] | None:
    value = course.get("renew_on")
    if value is None:
        return None
    line = course.line_of("renew_on")
    match = RENEW_ON.match(value) if isinstance(value, str) else None
    if match is None:
        reader.problem(line, f"renew_on must be a quoted month and day like '01-15', got {value!r}")
        return None
    month, day = int(match[1]), int(match[2])
    try:
        date(2001, month, day)  # a non-leap year: 02-29 would not recur every year
    except ValueError:
        reader.problem(line, f"renew_on {value!r} is not a day that occurs every year")
        return None
    if "renew_every_days" in course:
        reader.problem(line, "use either renew_on or renew_every_days, not both")
    return month, day


def _read_reminders(course: LineDict, reader: _FileReader) -> ReminderPolicy:
    value = course.get("reminders")
    if value is None:
        return ReminderPolicy()
    if not isinstance(value, LineDict):
        reader.problem(course.line_of("reminders"), "reminders must be a mapping")
        return ReminderPolicy()
    reader.unknown_keys(value, REMINDER_KEYS, "reminders")
    defaults = ReminderPolicy()
    before = value.get("before_days", list(defaults.before_days))
    if not isinstance(before, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 365 for d in before
    ):
        reader.problem(value.line_of("before_days"), "before_days must be a list of 1-365")
        before = list(defaults.before_days)
    on_due_day = value.get("on_due_day", defaults.on_due_day)
    if not isinstance(on_due_day, bool):
        reader.problem(value.line_of("on_due_day"), "on_due_day must be true or false")
        on_due_day = defaults.on_due_day
    numbers = {
        key: reader.integer(value, key, 1, 365) or getattr(defaults, key)
        for key in ("copy_manager_after", "escalate_after", "escalate_every", "skip_level_after")
    }
    if numbers["copy_manager_after"] > numbers["escalate_after"]:
        reader.problem(value.line, "copy_manager_after must not come after escalate_after")
    return ReminderPolicy(
        before_days=tuple(sorted(set(before), reverse=True)), on_due_day=on_due_day, **numbers
    )


def _read_module_order(course: LineDict, reader: _FileReader) -> list[tuple[str, int]]:
    value = course.get("modules")
    if value is None:
        return []
    if not isinstance(value, LineList) or not value:
        reader.problem(course.line_of("modules"), "modules must be a non-empty list of slugs")
        return []
    order: list[tuple[str, int]] = []
    seen: set[str] = set()
    for item, line in zip(value, value.item_lines, strict=True):
        if not isinstance(item, str) or not KEY_PATTERN.match(item):
            reader.problem(line, f"module slug {item!r} must be lower-case letters, digits, -")
        elif item in seen:
            reader.problem(line, f"module {item!r} is listed twice")
        else:
            seen.add(item)
            order.append((item, line))
    return order


def _read_module_file(
    path: Path, display: str, problems: list[Problem]
) -> tuple[str, int | None, str] | None:
    """Title, reading minutes and Markdown body of one module file."""
    reader = _FileReader(display, problems)
    try:
        text = normalised(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        reader.problem(1, "file is not UTF-8 text")
        return None
    match = FRONT_MATTER.match(text)
    if match is None:
        reader.problem(1, "module must start with a front matter block between '---' lines")
        return None
    try:
        front = load_yaml(match.group(1), first_line=2)
    except YamlProblem as problem:
        reader.problem(problem.line, f"invalid front matter: {problem.message}")
        return None
    if not isinstance(front, LineDict):
        reader.problem(2, "front matter must be a mapping with a title")
        return None
    reader.unknown_keys(front, FRONT_MATTER_KEYS, "front matter")
    title = front.get("title")
    if not isinstance(title, str) or not title.strip():
        reader.problem(front.line_of("title"), "front matter needs a non-empty title")
        return None
    minutes = reader.integer(front, "minutes", 1, 600)
    body = text[match.end() :].strip()
    if not body:
        reader.problem(match.group(0).count("\n") + 1, "module body is empty")
        return None
    return title.strip(), minutes, body


def _read_modules(
    course_dir: Path,
    display_root: str,
    order: list[tuple[str, int]],
    languages: tuple[str, ...],
    course_reader: _FileReader,
    problems: list[Problem],
) -> tuple[Module, ...]:
    modules_dir = course_dir / "modules"
    listed = {slug for slug, _ in order}
    found: dict[tuple[str, str], Path] = {}
    for path in sorted(modules_dir.glob("*")) if modules_dir.is_dir() else []:
        display = f"{display_root}/modules/{path.name}"
        match = MODULE_FILE.match(path.name)
        if match is None:
            problems.append(Problem(display, 1, "module files are named <slug>.<language>.md"))
        elif match["slug"] not in listed:
            problems.append(
                Problem(display, 1, f"module {match['slug']!r} is not listed in course.yaml")
            )
        elif match["lang"] not in languages:
            problems.append(Problem(display, 1, f"language {match['lang']!r} is not declared"))
        else:
            found[(match["slug"], match["lang"])] = path
    modules: list[Module] = []
    for slug, line in order:
        titles: Texts = {}
        bodies: Texts = {}
        minutes: int | None = None
        for language in languages:
            module_path = found.get((slug, language))
            if module_path is None:
                course_reader.problem(
                    line, f"module {slug!r} has no file modules/{slug}.{language}.md"
                )
                continue
            display = f"{display_root}/modules/{module_path.name}"
            read = _read_module_file(module_path, display, problems)
            if read is not None:
                titles[language], module_minutes, bodies[language] = read
                minutes = minutes or module_minutes
        modules.append(Module(slug=slug, title=titles, body=bodies, minutes=minutes))
    return tuple(modules)


def _read_option(
    item: Any, line: int, languages: tuple[str, ...], where: str, reader: _FileReader
) -> Option | None:
    if not isinstance(item, LineDict):
        reader.problem(line, f"each option of {where} must be a mapping")
        return None
    reader.unknown_keys(item, OPTION_KEYS, f"an option of {where}")
    reader.missing_keys(item, {"id", "text"}, f"an option of {where}")
    option_id = item.get("id")
    if option_id is not None and not (isinstance(option_id, str) and KEY_PATTERN.match(option_id)):
        reader.problem(item.line_of("id"), f"option id {option_id!r} of {where} is not a valid id")
        option_id = None
    correct = item.get("correct", False)
    if not isinstance(correct, bool):
        reader.problem(item.line_of("correct"), f"correct must be true or false in {where}")
        correct = False
    text = reader.texts(item, "text", languages, f"option {option_id!r} of {where}")
    if option_id is None:
        return None
    return Option(id=option_id, text=text, correct=correct)


def _read_question(
    item: Any, line: int, languages: tuple[str, ...], reader: _FileReader
) -> Question | None:
    if not isinstance(item, LineDict):
        reader.problem(line, "each question must be a mapping")
        return None
    question_id = reader.key_value(item, "id", "question id")
    where = f"question {question_id!r}" if question_id else "a question"
    reader.unknown_keys(item, QUESTION_KEYS, where)
    reader.missing_keys(item, QUESTION_KEYS - {"department"}, where)
    kind = item.get("type")
    if kind is not None and kind not in QUESTION_TYPES:
        reader.problem(item.line_of("type"), f"type of {where} must be single or multiple")
    department = (
        reader.key_value(item, "department", "department") if "department" in item else None
    )
    prompt = reader.texts(item, "prompt", languages, where)
    explanation = reader.texts(item, "explanation", languages, where)
    raw_options = item.get("options")
    options: list[Option] = []
    if "options" in item:
        if not isinstance(raw_options, LineList) or len(raw_options) < 2:
            reader.problem(item.line_of("options"), f"{where} needs at least two options")
        else:
            for option_item, option_line in zip(raw_options, raw_options.item_lines, strict=True):
                option = _read_option(option_item, option_line, languages, where, reader)
                if option is None:
                    continue
                if any(o.id == option.id for o in options):
                    reader.problem(option_line, f"option id {option.id!r} repeats in {where}")
                    continue
                options.append(option)
            correct = sum(1 for o in options if o.correct)
            if correct == 0:
                reader.problem(item.line_of("options"), f"{where} has no correct option")
            elif kind == "single" and correct > 1:
                reader.problem(
                    item.line_of("options"),
                    f"{where} is single choice but marks {correct} options correct",
                )
    if question_id is None or kind not in QUESTION_TYPES:
        return None
    return Question(
        id=question_id,
        type=kind,
        prompt=prompt,
        options=tuple(options),
        explanation=explanation,
        department=department,
    )


def _read_quiz(
    course_dir: Path, display_root: str, languages: tuple[str, ...], problems: list[Problem]
) -> tuple[Question, ...]:
    display = f"{display_root}/quiz.yaml"
    quiz = _read_yaml(course_dir / "quiz.yaml", display, problems)
    if quiz is None:
        return ()
    reader = _FileReader(display, problems)
    reader.unknown_keys(quiz, {"questions"}, "quiz.yaml")
    raw = quiz.get("questions")
    if not isinstance(raw, LineList) or not raw:
        reader.problem(quiz.line_of("questions"), "quiz.yaml needs a non-empty list of questions")
        return ()
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    for item, line in zip(raw, raw.item_lines, strict=True):
        question = _read_question(item, line, languages, reader)
        if question is None:
            continue
        if question.id in first_line:
            reader.problem(
                line,
                f"question id {question.id!r} repeats (first at line {first_line[question.id]})",
            )
            continue
        first_line[question.id] = line
        questions.append(question)
    return tuple(questions)


def _check_no_stray_files(course_dir: Path, display_root: str, problems: list[Problem]) -> None:
    # Every file is part of the version hash, so only files the format knows may be there.
    for path in course_files(course_dir):
        rel = path.relative_to(course_dir)
        if rel.as_posix() in {"course.yaml", "quiz.yaml"}:
            continue
        if len(rel.parts) == 2 and rel.parts[0] == "modules":
            continue  # named and checked by _read_modules
        problems.append(Problem(f"{display_root}/{rel.as_posix()}", 1, "unexpected file in course"))


def load_course(course_dir: Path, display_root: str | None = None) -> CourseDefinition:
    """Load and validate one course folder, or raise CourseFileError listing every problem."""
    display_root = display_root or course_dir.name
    problems: list[Problem] = []
    display = f"{display_root}/course.yaml"
    course = _read_yaml(course_dir / "course.yaml", display, problems)
    if course is None:
        raise CourseFileError(problems)
    reader = _FileReader(display, problems)
    reader.unknown_keys(course, COURSE_KEYS, "course.yaml")
    reader.missing_keys(course, REQUIRED_COURSE_KEYS, "course.yaml")
    key = reader.key_value(course, "key", "course key")
    if key is not None and key != course_dir.name:
        reader.problem(
            course.line_of("key"), f"key {key!r} must equal the folder name {course_dir.name!r}"
        )
    languages = _read_languages(course, reader)
    title = reader.texts(course, "title", languages, "course.yaml")
    summary = reader.texts(course, "summary", languages, "course.yaml")
    attestation = reader.texts(course, "attestation", languages, "course.yaml")
    audience = _read_audience(course, reader) if "audience" in course else Audience()
    due_days = reader.integer(course, "due_days", 1, 3650)
    renew_every_days = reader.integer(course, "renew_every_days", 1, 3650)
    renew_on = _read_renew_on(course, reader)
    reminders = _read_reminders(course, reader)
    pass_mark = reader.integer(course, "pass_mark", 0, 100)
    per_attempt = reader.integer(course, "questions_per_attempt", 1, 200)
    max_attempts = reader.integer(course, "max_attempts", 1, 100)
    minor = course.get("minor", False)
    if not isinstance(minor, bool):
        reader.problem(course.line_of("minor"), "minor must be true or false")
    order = _read_module_order(course, reader)
    modules = _read_modules(course_dir, display_root, order, languages, reader, problems)
    questions = _read_quiz(course_dir, display_root, languages, problems)
    _check_no_stray_files(course_dir, display_root, problems)
    untagged = sum(1 for q in questions if q.department is None)
    if per_attempt is not None and questions and untagged < per_attempt:
        reader.problem(
            course.line_of("questions_per_attempt"),
            f"questions_per_attempt is {per_attempt} but quiz.yaml has only {untagged} "
            "questions without a department tag",
        )
    if problems or key is None or due_days is None or pass_mark is None or per_attempt is None:
        # The None checks only narrow types: a missing value has always produced a problem.
        raise CourseFileError(problems)
    return CourseDefinition(
        key=key,
        sha256=version_sha256(course_dir),
        languages=languages,
        title=title,
        summary=summary,
        audience=audience,
        due_days=due_days,
        renew_every_days=renew_every_days,
        renew_on=renew_on,
        pass_mark=pass_mark,
        questions_per_attempt=per_attempt,
        max_attempts=max_attempts,
        minor=bool(minor),
        reminders=reminders,
        attestation=attestation,
        modules=modules,
        questions=questions,
    )


def load_catalog(courses_path: Path) -> list[CourseDefinition]:
    """Load every course under `courses_path`; if any file is bad, raise and load none."""
    if not courses_path.is_dir():
        raise CourseFileError([Problem(str(courses_path), 1, "courses folder does not exist")])
    problems: list[Problem] = []
    courses: list[CourseDefinition] = []
    for course_dir in sorted(p for p in courses_path.iterdir() if p.is_dir()):
        if course_dir.name.startswith((".", "_")):
            continue
        try:
            courses.append(load_course(course_dir, f"courses/{course_dir.name}"))
        except CourseFileError as error:
            problems.extend(error.problems)
    if problems:
        raise CourseFileError(problems)
    return courses
