"""Evidence packs: one person's facts as JSON (exact) and as a PDF certificate, and the
signed ZIP packs that carry them, or the organisation's completions, to an auditor."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fpdf import FPDF
from sqlalchemy.orm import Session

from lms.clock import iso_utc
from lms.config import PROJECT_ROOT
from lms.evidence import checkpoints, packs
from lms.reports.queries import PersonRecord, Status, completions_csv, signature_entries

FONTS = PROJECT_ROOT / "static" / "fonts"


def _utc(moment: datetime | None) -> str | None:
    return iso_utc(moment) if moment else None


def evidence_json(record: PersonRecord, generated_at: datetime) -> dict[str, Any]:
    """Every cycle of every course with attempts and the signed attestation, as plain data."""
    user = record.user
    return {
        "generated_at": _utc(generated_at),
        "person": {
            "email": user.email,
            "name": user.full_name,
            "department": record.department,
            "manager": record.manager_name,
            "start_date": user.start_date.isoformat() if user.start_date else None,
            "active": user.active,
        },
        "courses": [
            {
                "course": cycle.course_key,
                "cycle": cycle.cycle,
                "version_sha256": cycle.version_sha256,
                "assigned_at": _utc(cycle.assigned_at),
                "due_on": cycle.due_on.isoformat(),
                "completed_at": _utc(cycle.completed_at),
                "status": str(cycle.status),
                "completed_via": "live_session" if cycle.live_seat else None,
                "live_session": None
                if cycle.live_seat is None
                else {
                    "ledger_record": f"attendance:{cycle.live_seat.id}",
                    "starts_at": _utc(cycle.live_seat.live_session.starts_at),
                    "place": cycle.live_seat.live_session.place,
                    "instructor": cycle.live_seat.live_session.instructor,
                    "attended_at": _utc(cycle.live_seat.attended_at),
                },
                "exemptions": [
                    {
                        "ledger_record": f"exemption:{e.id}",
                        "reason": e.reason,
                        "granted_at": _utc(e.created_at),
                        "expires_on": e.expires_on.isoformat() if e.expires_on else None,
                        "ended_at": _utc(e.ended_at),
                        "ended_because": e.end_reason,
                    }
                    for e in cycle.exemptions
                ],
                "attempts": [
                    {
                        "ledger_record": f"attempt:{a.id}",
                        "number": a.number,
                        "submitted_at": _utc(a.submitted_at),
                        "score_percent": a.score_percent,
                        "passed": a.passed,
                        "questions": a.questions,
                    }
                    for a in cycle.attempts
                ],
                "attestation": None
                if cycle.attestation is None
                else {
                    "ledger_record": f"attestation:{cycle.attestation.id}",
                    "signed_at": _utc(cycle.attestation.signed_at),
                    "typed_name": cycle.attestation.typed_name,
                    "language": cycle.attestation.language,
                    "statement": cycle.attestation.statement,
                    "statement_sha256": cycle.attestation.statement_sha256,
                    "version_sha256": cycle.attestation.version_sha256,
                    "score_percent": cycle.attestation.score_percent,
                    "ledger_seq": cycle.attestation_entry[0] if cycle.attestation_entry else None,
                    "ledger_hash": cycle.attestation_entry[1] if cycle.attestation_entry else None,
                },
            }
            for cycle in record.cycles
        ],
    }


def evidence_pdf(record: PersonRecord, generated_at: datetime) -> bytes:
    """One certificate page per signed attestation (a cover page if there is none yet)."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_title(f"Training evidence: {record.user.full_name}")
    pdf.set_creator("Vern")
    signed = [c for c in record.cycles if c.attestation is not None]
    if not signed and not any(c.live_seat for c in record.cycles):
        pdf.add_page()
        _heading(pdf, "Training evidence")
        _line(pdf, "Person", f"{record.user.full_name} <{record.user.email}>")
        _line(pdf, "Status", "No signed attestation yet.")
    for cycle in signed:
        attestation = cycle.attestation
        assert attestation is not None  # noqa: S101 - filtered above
        pdf.add_page()
        _heading(pdf, "Training certificate")
        title = cycle.title.get(attestation.language) or cycle.course_key
        _line(pdf, "Person", f"{record.user.full_name} <{record.user.email}>")
        _line(pdf, "Department", record.department or "–")
        _line(pdf, "Course", f"{title} ({cycle.course_key}), cycle {cycle.cycle}")
        _line(pdf, "Course version (sha256)", attestation.version_sha256)
        _line(pdf, "Quiz score", f"{attestation.score_percent}%")
        _line(pdf, "Signed (UTC)", _utc(attestation.signed_at) or "")
        _line(pdf, "Typed name", attestation.typed_name)
        _line(pdf, "Language", attestation.language)
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 11)
        pdf.cell(0, 7, "Statement signed", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(0, 5.5, attestation.statement, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        _line(pdf, "Statement (sha256)", attestation.statement_sha256)
        if cycle.attestation_entry is not None:
            seq, entry_hash = cycle.attestation_entry
            _line(pdf, "Ledger entry", f"{seq}: {entry_hash}")
    _live_sessions_page(pdf, record)
    _exemptions_page(pdf, record)
    pdf.set_font("DejaVu", "", 8)
    pdf.set_y(-15)
    pdf.cell(0, 5, f"Generated by Vern at {_utc(generated_at)}")
    return bytes(pdf.output())


def _section_page(pdf: FPDF, title: str, record: PersonRecord) -> None:
    pdf.add_page()
    _heading(pdf, title)
    _line(pdf, "Person", f"{record.user.full_name} <{record.user.email}>")


def _live_sessions_page(pdf: FPDF, record: PersonRecord) -> None:
    """Courses completed by attending an instructor-led session (not signed in the app)."""
    attended = [c for c in record.cycles if c.live_seat is not None and c.attestation is None]
    if not attended:
        return
    _section_page(pdf, "Completed at live sessions", record)
    for cycle in attended:
        seat = cycle.live_seat
        assert seat is not None  # noqa: S101 - filtered above
        pdf.ln(3)
        title = next(iter(cycle.title.values()), cycle.course_key)
        _line(pdf, "Course", f"{title} ({cycle.course_key}), cycle {cycle.cycle}")
        _line(pdf, "Course version (sha256)", cycle.version_sha256)
        _line(pdf, "Session (UTC)", _utc(seat.live_session.starts_at) or "")
        _line(pdf, "Instructor", seat.live_session.instructor)
        _line(pdf, "Place", seat.live_session.place)


def _exemptions_page(pdf: FPDF, record: PersonRecord) -> None:
    """Exemptions in force, on a page of their own: they are not completions."""
    exempt = [c for c in record.cycles if c.status == Status.EXEMPT and c.exemptions]
    if not exempt:
        return
    _section_page(pdf, "Exemptions (not completions)", record)
    for cycle in exempt:
        exemption = cycle.exemptions[0]
        pdf.ln(3)
        title = next(iter(cycle.title.values()), cycle.course_key)
        _line(pdf, "Course", f"{title} ({cycle.course_key}), cycle {cycle.cycle}")
        _line(pdf, "Reason", exemption.reason)
        _line(pdf, "Granted (UTC)", _utc(exemption.created_at) or "")
        expires = exemption.expires_on.isoformat() if exemption.expires_on else "no expiry"
        _line(pdf, "Expires", expires)


def _heading(pdf: FPDF, text: str) -> None:
    pdf.set_font("DejaVu", "B", 18)
    pdf.cell(0, 12, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _line(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font("DejaVu", "B", 9)
    pdf.cell(48, 6, label)
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")


def person_pack(
    session: Session, record: PersonRecord, key: Ed25519PrivateKey, now: datetime
) -> bytes:
    """The person's evidence (JSON and PDF) with their ledger entries, signed for offline
    checking. The ledger's head is signed first, so every entry in the pack is covered."""
    checkpoints.create(session, key, now)
    entries = packs.entries_of_person(session, record.user.id)
    evidence = json.dumps(evidence_json(record, now), ensure_ascii=False, indent=2)
    return packs.pack_bytes(
        key,
        [
            ("evidence.json", evidence.encode("utf-8")),
            ("evidence.pdf", evidence_pdf(record, now)),
            (packs.LEDGER, packs.ledger_document(session, entries, record.user.id)),
        ],
    )


def completions_pack(
    session: Session,
    start: date,
    end: date,
    key: Ed25519PrivateKey,
    now: datetime,
    target: IO[bytes],
) -> None:
    """The organisation's completions CSV (with each signature's ledger entry), those entries
    and the signed checkpoint, written to `target` as it streams from the database."""
    checkpoints.create(session, key, now)
    rows = (chunk.encode("utf-8") for chunk in completions_csv(session, start, end))
    packs.write_pack(
        target,
        key,
        [
            (f"{packs.COMPLETIONS}{start}-{end}.csv", rows),
            (packs.LEDGER, packs.ledger_chunks(session, signature_entries(session, start, end))),
        ],
    )
