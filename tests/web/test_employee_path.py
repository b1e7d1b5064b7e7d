"""The employee path over HTTP: modules, quiz, attestation, confirmation, and who may see what."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.catalog.definition import CourseDefinition
from lms.people.models import User
from lms.training.models import Attestation, ModuleView, QuizAttempt
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD


@pytest.fixture
def signed_in(client: FlaskClient, employee: User) -> Auth:
    auth = Auth(client)
    auth.login(employee.email, PASSWORD)
    return auth


def _text(response) -> str:  # noqa: ANN001
    return response.get_data(as_text=True)


def _read_all(client: FlaskClient, course: CourseDefinition) -> None:
    for module in course.modules:
        url = f"/training/{course.key}/modules/{module.slug}"
        page = client.get(url)
        assert page.status_code == 200
        read = client.post(f"{url}/read", data={"csrf_token": csrf_token(_text(page))})
        assert read.status_code == 302


def _start_quiz(auth: Auth, course: CourseDefinition) -> str:
    response = auth.post(
        f"/training/{course.key}/quiz", page=_text(auth.client.get(f"/training/{course.key}"))
    )
    assert response.status_code == 302
    return response.headers["Location"]


def _answer_positions(
    session: Session, url: str, course: CourseDefinition, right: bool
) -> dict[str, str]:
    attempt = session.get(QuizAttempt, int(url.rsplit("/", 1)[1]))
    assert attempt is not None
    answers = {}
    for position, item in enumerate(attempt.served):
        question = course.question(item["question"])
        assert question is not None
        wanted = question.correct_ids if right else {"wrong"}
        chosen = [str(i) for i, option in enumerate(item["options"]) if option in wanted]
        answers[f"q{position}"] = chosen if len(chosen) > 1 else chosen[0]
    return answers


def _pass_quiz(auth: Auth, session: Session, course: CourseDefinition) -> str:
    """Read every module and pass the quiz; returns the attempt's URL."""
    _read_all(auth.client, course)
    url = _start_quiz(auth, course)
    auth.post(url, _answer_positions(session, url, course, right=True))
    return url


def _sign(auth: Auth, course: CourseDefinition, fields: dict[str, str]):  # noqa: ANN202
    """Submit the attestation form (fetched first, for its token) with `fields`."""
    page = _text(auth.client.get(f"/training/{course.key}/attest"))
    return auth.post(
        f"/training/{course.key}/attest",
        {**fields, "statement_sha256": course.statement_sha256("en")},
        page=page,
    )


def test_my_training_lists_assigned_courses_with_status_and_due_date(signed_in: Auth) -> None:
    html = _text(signed_in.client.get("/training"))
    assert "Course basics" in html
    assert "Not started" in html
    assert "Due April 1, 2026" in html
    assert 'value="0"' in html  # progress bar


def test_opening_a_module_records_nothing_finishing_it_records_progress(
    signed_in: Auth, session: Session, course: CourseDefinition
) -> None:
    """Reading is evidence only once the reader moves on (a POST); a GET changes nothing."""
    html = _text(signed_in.client.get("/training/basics/modules/first"))
    assert "<strong>first</strong>" in html
    assert session.scalar(select(func.count()).select_from(ModuleView)) == 0
    done = signed_in.post("/training/basics/modules/first/read", page=html)
    assert done.headers["Location"] == "/training/basics/modules/second"
    assert session.scalar(select(func.count()).select_from(ModuleView)) == 1
    assert "In progress" in _text(signed_in.client.get("/training"))
    last = signed_in.post("/training/basics/modules/second/read", page=html)
    assert last.headers["Location"] == "/training/basics"


def test_finishing_a_module_needs_a_csrf_token_and_a_real_module(signed_in: Auth) -> None:
    assert signed_in.client.post("/training/basics/modules/first/read").status_code == 400
    page = _text(signed_in.client.get("/training/basics/modules/first"))
    assert signed_in.post("/training/basics/modules/nope/read", page=page).status_code == 404


def test_unknown_module_and_course_are_404_in_the_layout(signed_in: Auth) -> None:
    for url in ("/training/basics/modules/nope", "/training/nope", "/no/such/page"):
        response = signed_in.client.get(url)
        assert response.status_code == 404, url
        assert 'class="site-header"' in _text(response)


def test_quiz_cannot_start_before_reading(signed_in: Auth, session: Session) -> None:
    response = signed_in.post(
        "/training/basics/quiz", page=_text(signed_in.client.get("/training/basics"))
    )
    assert response.status_code == 302
    assert "Read every module" in _text(signed_in.client.get("/training/basics"))
    assert session.scalar(select(func.count()).select_from(QuizAttempt)) == 0


def test_whole_path_fail_pass_sign_and_confirm(
    signed_in: Auth, session: Session, course: CourseDefinition
) -> None:
    client = signed_in.client
    _read_all(client, course)

    url = _start_quiz(signed_in, course)
    page = _text(client.get(url))
    assert page.count('<fieldset class="question') == course.questions_per_attempt
    response = signed_in.post(url, _answer_positions(session, url, course, right=False), page=page)
    result = _text(client.get(response.headers["Location"]))
    assert "You scored 0%" in result
    assert "Because" in result  # explanations are shown

    url = _start_quiz(signed_in, course)
    assert "Quiz, attempt 2" in _text(client.get(url))
    response = signed_in.post(url, _answer_positions(session, url, course, right=True))
    assert "You passed with 100%" in _text(client.get(response.headers["Location"]))

    attest_page = _text(client.get("/training/basics/attest"))
    assert course.attestation["en"] in attest_page
    response = signed_in.post(
        "/training/basics/attest",
        {
            "agree": "y",
            "typed_name": "kari  nordmann",
            "statement_sha256": course.statement_sha256("en"),
        },
        page=attest_page,
    )
    assert response.status_code == 302
    confirmation = _text(client.get(response.headers["Location"]))
    assert course.sha256 in confirmation
    assert "kari nordmann" in confirmation
    assert "Complete" in _text(client.get("/training"))
    attestation = session.scalar(select(Attestation))
    assert attestation is not None
    assert attestation.user_agent  # recorded from the request
    assert attestation.ip == "127.0.0.1"


def test_incomplete_answers_rerender_with_message_at_the_question(
    signed_in: Auth, session: Session, course: CourseDefinition
) -> None:
    _read_all(signed_in.client, course)
    url = _start_quiz(signed_in, course)
    answers = _answer_positions(session, url, course, right=True)
    del answers["q1"]
    response = signed_in.post(url, answers)
    assert response.status_code == 200
    html = _text(response)
    assert 'id="q1-error"' in html
    assert 'id="q0-error"' not in html
    assert re.search(r'name="q0" id="q0-\d" value="\d" checked', html)
    session.expire_all()
    assert session.scalar(select(QuizAttempt.submitted_at)) is None


@pytest.mark.parametrize(
    "forged",
    [
        {"q0": "9"},
        {"q42": "0"},
        {"question": "0"},
        {"q0": "zero"},
        # Not ASCII digits, or beyond 64 bits: once a 500 (int() refused what isdigit() took).
        {"q²": "0"},
        {"q0": "²"},
        {"q0": "99999999999999999999"},
        {"q99999999999999999999": "0"},
    ],
)
def test_tampered_quiz_form_is_refused_and_saves_nothing(
    signed_in: Auth, session: Session, course: CourseDefinition, forged: dict[str, str]
) -> None:
    _read_all(signed_in.client, course)
    url = _start_quiz(signed_in, course)
    answers = {**_answer_positions(session, url, course, right=True), **forged}
    response = signed_in.post(url, answers)
    assert response.status_code == 400
    assert "nothing was saved" in _text(response)
    session.expire_all()
    assert session.scalar(select(QuizAttempt.submitted_at)) is None


def test_second_submit_of_an_attempt_is_refused_and_changes_nothing(
    signed_in: Auth, session: Session, course: CourseDefinition
) -> None:
    _read_all(signed_in.client, course)
    url = _start_quiz(signed_in, course)
    page = _text(signed_in.client.get(url))
    signed_in.post(url, _answer_positions(session, url, course, right=False), page=page)
    response = signed_in.post(url, _answer_positions(session, url, course, right=True), page=page)
    assert response.status_code == 302
    result = _text(signed_in.client.get(response.headers["Location"]))
    assert "already submitted" in result
    assert "You scored 0%" in result
    session.expire_all()
    assert session.scalar(select(QuizAttempt.passed)) is False


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"typed_name": "Kari Nordmann"}, "Tick the box to confirm the statement."),
        ({"agree": "y", "typed_name": "Someone Else"}, "Type your full name as it is on record"),
        ({"agree": "y"}, "Type your full name to sign."),
    ],
)
def test_attestation_form_errors_are_shown_at_the_field_and_nothing_is_signed(
    signed_in: Auth, session: Session, course: CourseDefinition, data: dict[str, str], message: str
) -> None:
    _pass_quiz(signed_in, session, course)
    response = _sign(signed_in, course, data)
    assert response.status_code == 200
    assert message in _text(response)
    assert 'class="error-message"' in _text(response)
    assert session.scalar(select(func.count()).select_from(Attestation)) == 0


def test_attesting_before_passing_redirects_with_a_message(signed_in: Auth) -> None:
    response = signed_in.client.get("/training/basics/attest")
    assert response.status_code == 302
    assert "Pass the quiz before you sign" in _text(signed_in.client.get("/training/basics"))


def test_someone_elses_attempt_result_and_attestation_are_404(
    client: FlaskClient,
    session: Session,
    employee: User,
    colleague: User,
    course: CourseDefinition,
) -> None:
    auth = Auth(client)
    auth.login(employee.email, PASSWORD)
    url = _pass_quiz(auth, session, course)
    response = _sign(auth, course, {"agree": "y", "typed_name": "Kari Nordmann"})
    confirmation_url = response.headers["Location"]
    client.post("/logout", data={"csrf_token": csrf_token(_text(client.get("/training")))})

    auth.login(colleague.email, PASSWORD)
    for foreign in (url, url + "/result", confirmation_url):
        assert client.get(foreign).status_code == 404, foreign
    answers = _answer_positions(session, url, course, right=False)
    own_page = _text(client.get("/training"))
    assert client.post(url, data={**answers, "csrf_token": csrf_token(own_page)}).status_code == 404


def test_norwegian_locale_shows_the_course_in_norwegian(
    client: FlaskClient, session: Session, employee: User, course: CourseDefinition
) -> None:
    employee.locale = "nb"
    session.commit()
    Auth(client).login(employee.email, PASSWORD)
    html = _text(client.get("/training/basics/modules/first"))
    assert '<html lang="nb">' in html
    assert "Modul first" in html
    assert "Text of <strong>first</strong> in nb." in html


def test_preferences_change_language(signed_in: Auth, session: Session, employee: User) -> None:
    response = signed_in.post("/account", {"locale": "nb", "timezone": "Europe/Oslo"})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(User, employee.id).locale == "nb"  # type: ignore[union-attr]
    assert "Min opplæring" in _text(signed_in.client.get("/training"))  # UI now in Norwegian

    response = signed_in.post("/account", {"locale": "xx", "timezone": "Europe/Oslo"})
    assert response.status_code == 200
    assert 'id="locale-error"' in _text(response)
    session.expire_all()
    assert session.get(User, employee.id).locale == "nb"  # type: ignore[union-attr]


def test_only_managers_are_offered_the_weekly_digest(
    client: FlaskClient, session: Session, employee: User, now
) -> None:  # noqa: ANN001
    from tests import factories

    auth = Auth(client)
    auth.login(employee.email, PASSWORD)
    assert "digest_opt_in" not in _text(client.get("/account"))
    factories.user(session, now, manager=employee)
    session.commit()
    page = _text(client.get("/account"))
    assert 'name="digest_opt_in"' in page
    auth.post(
        "/account", {"locale": "en", "timezone": "Europe/Oslo", "digest_opt_in": "y"}, page=page
    )
    session.expire_all()
    assert session.get(User, employee.id).digest_opt_in is True  # type: ignore[union-attr]


def test_attestation_form_reports_every_mistake_at_once(
    signed_in: Auth, session: Session, course: CourseDefinition
) -> None:
    _pass_quiz(signed_in, session, course)
    response = _sign(signed_in, course, {"typed_name": "Someone Else"})
    html = _text(response)
    assert 'id="agree-error"' in html
    assert 'id="typed_name-error"' in html
    assert session.scalar(select(func.count()).select_from(Attestation)) == 0
