"""Signed export packs: HR downloads them, an auditor checks them offline, with Vern's
command or with sha256sum and openssl, and any change to a pack is caught."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.config import Settings
from lms.evidence import keys, packs
from tests.company import Company
from tests.conftest import Auth
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("now")
SHA256SUM, OPENSSL = shutil.which("sha256sum"), shutil.which("openssl")


@pytest.fixture
def key(settings: Settings) -> Ed25519PrivateKey:
    return keys.create_key(settings.ledger_key)


@pytest.fixture
def hr_client(client: FlaskClient, company: Company) -> FlaskClient:
    Auth(client).login(company.hr.email, PASSWORD)
    return client


def person_pack(client: FlaskClient, company: Company) -> bytes:
    response = client.get(f"/hr/people/{company.a1.id}/evidence.zip")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    return response.get_data()


def rewritten(pack: bytes, name: str, change: bytes) -> bytes:
    """The pack with one member's content replaced, everything else as it was."""
    source = zipfile.ZipFile(io.BytesIO(pack))
    target = io.BytesIO()
    with zipfile.ZipFile(target, "w") as out:
        for member in source.namelist():
            out.writestr(member, change if member == name else source.read(member))
    return target.getvalue()


def test_a_person_s_pack_holds_their_evidence_ledger_entries_and_signed_manifest(
    hr_client: FlaskClient, company: Company, key: Ed25519PrivateKey, session: Session
) -> None:
    pack = person_pack(hr_client, company)
    archive = zipfile.ZipFile(io.BytesIO(pack))
    assert set(archive.namelist()) == {
        "evidence.json",
        "evidence.pdf",
        "ledger.json",
        "public-key.pem",
        "SHA256SUMS",
        "SHA256SUMS.sig",
    }
    ledger = json.loads(archive.read("ledger.json"))
    assert [entry["kind"] for entry in ledger["entries"]] == [
        "quiz_result",
        "attestation",
        "completion",
    ]
    assert ledger["checkpoint"]["seq"] >= ledger["entries"][-1]["seq"]
    assert archive.read("public-key.pem").decode() == keys.public_pem(key.public_key())
    report = packs.verify_pack(io.BytesIO(pack), key.public_key())
    assert (report.problems, report.files, report.entries) == ([], 4, 3)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "export.evidence_pack"))
    assert event is not None
    assert event.subject_user_id == company.a1.id


@pytest.mark.parametrize(
    ("member", "change", "expected"),
    [
        ("evidence.json", b"{}", "evidence.json does not match its sha256"),
        ("SHA256SUMS", b"0" * 64 + b"  evidence.json\n", "SHA256SUMS is not signed"),
    ],
)
def test_a_changed_pack_is_caught(
    hr_client: FlaskClient,
    company: Company,
    key: Ed25519PrivateKey,
    member: str,
    change: bytes,
    expected: str,
) -> None:
    pack = rewritten(person_pack(hr_client, company), member, change)
    problems = packs.verify_pack(io.BytesIO(pack), key.public_key()).problems
    assert any(expected in problem for problem in problems), problems


def test_a_re_signed_pack_with_a_forged_entry_is_caught_by_the_entry_hash(
    hr_client: FlaskClient, company: Company, key: Ed25519PrivateKey
) -> None:
    """Someone with their own key re-signs a pack whose score they raised: the auditor's
    key refuses the manifest, and the entry no longer matches its hash either way."""
    original = zipfile.ZipFile(io.BytesIO(person_pack(hr_client, company)))
    ledger = json.loads(original.read("ledger.json"))
    ledger["entries"][0]["score"] = 42
    forger = Ed25519PrivateKey.generate()
    files = [(name, original.read(name)) for name in ("evidence.json", "evidence.pdf")] + [
        ("ledger.json", json.dumps(ledger).encode())
    ]
    forged = packs.pack_bytes(forger, files)
    problems = packs.verify_pack(io.BytesIO(forged), key.public_key()).problems
    assert "SHA256SUMS is not signed by this public key" in problems
    assert "public-key.pem in the pack is not the key you gave" in problems
    assert any("does not match its hash" in problem for problem in problems)


def test_the_verify_export_command_checks_a_pack(
    app: Flask, hr_client: FlaskClient, company: Company, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    pack, public = tmp_path / "pack.zip", tmp_path / "vern.pem"
    pack.write_bytes(person_pack(hr_client, company))
    public.write_text(keys.public_pem(key.public_key()))
    runner = app.test_cli_runner()
    args = ["lms", "ledger", "verify-export", str(pack), "--public-key", str(public)]
    good = runner.invoke(args=args)
    assert good.exit_code == 0, good.output
    assert "pack intact: 4 files" in good.output

    pack.write_bytes(rewritten(pack.read_bytes(), "evidence.pdf", b"%PDF-1.4 forged"))
    bad = runner.invoke(args=args)
    assert bad.exit_code == 1
    assert "evidence.pdf does not match its sha256" in bad.output


@pytest.mark.skipif(not (SHA256SUM and OPENSSL), reason="sha256sum or openssl is missing")
def test_an_auditor_checks_a_pack_with_sha256sum_and_openssl(
    hr_client: FlaskClient, company: Company, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    """What the README tells an auditor to run, run."""
    zipfile.ZipFile(io.BytesIO(person_pack(hr_client, company))).extractall(tmp_path)
    trusted = tmp_path / "trusted.pem"
    trusted.write_text(keys.public_pem(key.public_key()))
    sums = subprocess.run(
        [str(SHA256SUM), "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True, text=True
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
    signature = subprocess.run(
        [
            str(OPENSSL), "pkeyutl", "-verify", "-pubin", "-inkey", str(trusted), "-rawin",
            "-in", "SHA256SUMS", "-sigfile", "SHA256SUMS.sig",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert signature.returncode == 0, signature.stdout + signature.stderr
    assert "Signature Verified Successfully" in signature.stdout


def test_the_organisation_pack_carries_the_csv_with_ledger_hashes(
    hr_client: FlaskClient, company: Company, key: Ed25519PrivateKey
) -> None:
    start, end = company.start.date(), company.start.date().replace(year=company.start.year + 1)
    with hr_client.get(f"/hr/export.zip?start={start}&end={end}") as response:
        assert response.status_code == 200
        pack = response.get_data()
    assert packs.verify_pack(io.BytesIO(pack), key.public_key()).problems == []
    archive = zipfile.ZipFile(io.BytesIO(pack))
    rows = list(
        csv.DictReader(io.StringIO(archive.read(f"completions-{start}-{end}.csv").decode()))
    )
    assert len(rows) == 2
    assert all(len(row["ledger_hash"]) == 64 for row in rows)
    assert json.loads(archive.read("ledger.json"))["checkpoint"]["seq"] >= max(
        int(row["ledger_seq"]) for row in rows
    )


def test_without_the_ledger_key_there_is_a_clear_page_and_no_pack(
    hr_client: FlaskClient, company: Company
) -> None:
    response = hr_client.get(f"/hr/people/{company.a1.id}/evidence.zip")
    assert response.status_code == 503
    assert "lms ledger init" in response.get_data(as_text=True)


def _resigned(
    pack: bytes, key: Ed25519PrivateKey, change: Callable[[dict[str, Any]], None]
) -> bytes:
    """The pack with evidence.json changed and signed again with the installation's own key,
    as someone holding that key (or Vern itself, misreading the tables) could."""
    original = zipfile.ZipFile(io.BytesIO(pack))
    evidence = json.loads(original.read("evidence.json"))
    change(evidence)
    files = [
        ("evidence.json", json.dumps(evidence).encode()),
        ("evidence.pdf", original.read("evidence.pdf")),
        ("ledger.json", original.read("ledger.json")),
    ]
    return packs.pack_bytes(key, files)


def _signed(evidence: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in evidence["courses"] if c["attestation"])["attestation"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: _signed(e).update(score_percent=55), "attestation.score_percent differs"),
        (lambda e: _signed(e).update(typed_name="Someone Else"), "attestation.typed_name differs"),
        (lambda e: _signed(e).update(statement="Nothing."), "attestation.statement differs"),
        (
            lambda e: _signed(e).update(signed_at="2020-01-01T00:00:00Z"),
            "attestation.signed_at differs",
        ),
        (
            lambda e: next(c for c in e["courses"] if c["attempts"])["attempts"][0].update(
                passed=False
            ),
            "attempts[0].passed differs",
        ),
        (
            lambda e: next(c for c in e["courses"] if c["attempts"]).update(attempts=[]),
            "(quiz_result attempt:",
        ),
    ],
)
def test_a_pack_whose_evidence_disagrees_with_its_own_ledger_is_caught(
    hr_client: FlaskClient,
    company: Company,
    key: Ed25519PrivateKey,
    change: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    pack = _resigned(person_pack(hr_client, company), key, change)
    problems = packs.verify_pack(io.BytesIO(pack), key.public_key()).problems
    assert any(expected in problem for problem in problems), problems
    assert not any("SHA256SUMS" in problem for problem in problems)  # signed alright


def test_an_untouched_person_pack_names_every_record_s_entry(
    hr_client: FlaskClient, company: Company, key: Ed25519PrivateKey
) -> None:
    archive = zipfile.ZipFile(io.BytesIO(person_pack(hr_client, company)))
    evidence = json.loads(archive.read("evidence.json"))
    ledger = json.loads(archive.read("ledger.json"))
    signed = _signed(evidence)
    assert signed["ledger_record"].startswith("attestation:")
    assert {e["record"] for e in ledger["entries"]} >= {signed["ledger_record"]}
    assert ledger["personal"]["digest_key"]
    pack = _resigned(person_pack(hr_client, company), key, lambda e: None)
    assert packs.verify_pack(io.BytesIO(pack), key.public_key()).problems == []


def _organisation_pack(client: FlaskClient, company: Company) -> tuple[bytes, str]:
    start, end = company.start.date(), company.start.date().replace(year=company.start.year + 1)
    with client.get(f"/hr/export.zip?start={start}&end={end}") as response:
        assert response.status_code == 200
        return response.get_data(), f"completions-{start}-{end}.csv"


def _csv_resigned(pack: bytes, name: str, key: Ed25519PrivateKey, csv_text: str) -> bytes:
    original = zipfile.ZipFile(io.BytesIO(pack))
    files = [(name, csv_text.encode()), ("ledger.json", original.read("ledger.json"))]
    return packs.pack_bytes(key, files)


def test_the_organisation_pack_carries_each_signature_s_entry_and_checks_the_csv_against_it(
    hr_client: FlaskClient, company: Company, key: Ed25519PrivateKey
) -> None:
    pack, name = _organisation_pack(hr_client, company)
    archive = zipfile.ZipFile(io.BytesIO(pack))
    ledger = json.loads(archive.read("ledger.json"))
    text = archive.read(name).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(str(e["seq"]) for e in ledger["entries"]) == sorted(r["ledger_seq"] for r in rows)
    resigned = _csv_resigned(pack, name, key, text)
    assert packs.verify_pack(io.BytesIO(resigned), key.public_key()).problems == []
    assert packs.verify_pack(io.BytesIO(pack), key.public_key()).problems == []

    score = rows[0]["score_percent"]
    forged = text.replace(f'"{score}","', '"55","', 1)
    problems = packs.verify_pack(
        io.BytesIO(_csv_resigned(pack, name, key, forged)), key.public_key()
    ).problems
    assert f"{name} line 2: score_percent differs from ledger entry {rows[0]['ledger_seq']}" in (
        problems
    )
    lines = text.splitlines(keepends=True)
    dropped = "".join(lines[:1] + lines[2:])
    problems = packs.verify_pack(
        io.BytesIO(_csv_resigned(pack, name, key, dropped)), key.public_key()
    ).problems
    assert f"ledger.json: entry {rows[0]['ledger_seq']} has no line in {name}" in problems
