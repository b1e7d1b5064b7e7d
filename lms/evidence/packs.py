"""Signed export packs: a ZIP an auditor can check offline with standard tools.

Every pack holds its files, `ledger.json` (the ledger entries it relies on, each with its
hash, and the latest signed checkpoint), `public-key.pem`, a `SHA256SUMS` manifest in the
format `sha256sum -c` reads, and `SHA256SUMS.sig`, the raw Ed25519 signature of the manifest
that `openssl pkeyutl -verify -rawin` checks. `lms ledger verify-export` does all of it."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.evidence import checkpoints, keys, ledger
from lms.evidence.models import LedgerCheckpoint, LedgerEntry, LedgerPersonal, LedgerSubject
from lms.evidence.pack_evidence import EVIDENCE, completions_problems, evidence_problems

SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"
PUBLIC_KEY = "public-key.pem"
LEDGER = "ledger.json"
FORMAT = "vern-ledger-1"
COMPLETIONS = "completions-"  # the organisation's export: completions-<start>-<end>.csv


def entries_of_person(session: Session, user_id: int) -> list[LedgerEntry]:
    subject = session.get(LedgerSubject, user_id)
    if subject is None:
        return []
    return list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.person_ref == subject.ref)
            .order_by(LedgerEntry.seq)
        )
    )


def entry_document(entry: LedgerEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in (*ledger.FIELDS, "hash")}


def checkpoint_document(checkpoint: LedgerCheckpoint | None) -> dict[str, Any] | None:
    if checkpoint is None:
        return None
    return {
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "at": checkpoint.at,
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
        "signed_message": checkpoints.FORMAT + "␟<seq>␟<head_hash>␟<at>, ␟ being the byte 0x1F",
    }


def personal_document(session: Session, user_id: int, entries: list[LedgerEntry]) -> dict[str, Any]:
    """The person's digest key and the personal fields of their entries, so that an auditor
    can check the name typed against each entry's personal_digest (nothing once erased)."""
    subject = session.get(LedgerSubject, user_id)
    seqs = [entry.seq for entry in entries if entry.personal_digest is not None]
    kept = session.scalars(select(LedgerPersonal).where(LedgerPersonal.seq.in_(seqs)))
    return {
        "digest_key": subject.digest_key if subject else None,
        "digest": "HMAC-SHA256 under digest_key (hex) of typed_name, ip and user_agent joined "
        "by the byte 0x1F, None as the empty string",
        "fields": {
            str(row.seq): {"typed_name": row.typed_name, "ip": row.ip, "user_agent": row.user_agent}
            for row in kept
        },
    }


def ledger_document(
    session: Session, entries: list[LedgerEntry], person_id: int | None = None
) -> bytes:
    """The entries a pack relies on and the latest checkpoint (and, in a person's pack, what
    checks the name they typed), as JSON."""
    return b"".join(ledger_chunks(session, entries, person_id))


def ledger_chunks(
    session: Session, entries: Iterable[LedgerEntry], person_id: int | None = None
) -> Iterator[bytes]:
    """ledger.json a piece at a time: an organisation's export carries every signature's entry,
    streamed from the database like its CSV. The checkpoint is read first, so it is the one
    that signed the head before the export began."""
    checkpoint = checkpoint_document(checkpoints.latest(session))
    head = {
        "format": FORMAT,
        "hash": "sha256 over the fields in this order, joined by the byte 0x1F, "
        "None as the empty string; an entry whose evidence is null is hashed without that "
        "field; prev_hash of the first entry is 64 zeros",
        "fields": list(ledger.FIELDS),
    }
    yield json.dumps(head, ensure_ascii=False, indent=2)[:-2].encode("utf-8")
    yield b',\n  "entries": ['
    kept: list[LedgerEntry] = []
    for number, entry in enumerate(entries):
        if person_id is not None:
            kept.append(entry)
        text = json.dumps(entry_document(entry), ensure_ascii=False)
        yield (",\n    " if number else "\n    ").encode("utf-8") + text.encode("utf-8")
    yield b'\n  ],\n  "checkpoint": ' + json.dumps(checkpoint, ensure_ascii=False).encode()
    if person_id is not None:
        personal = personal_document(session, person_id, kept)
        yield b',\n  "personal": ' + json.dumps(personal, ensure_ascii=False).encode("utf-8")
    yield b"\n}\n"


def write_pack(
    target: IO[bytes], key: Ed25519PrivateKey, files: Iterable[tuple[str, Iterable[bytes]]]
) -> None:
    """Write the files (each streamed, never held whole) and the signed manifest to `target`."""
    sums: dict[str, str] = {}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as pack:
        public = keys.public_pem(key.public_key()).encode("ascii")
        for name, chunks in [*files, (PUBLIC_KEY, [public])]:
            digest = hashlib.sha256()
            with pack.open(name, "w", force_zip64=True) as member:
                for chunk in chunks:
                    digest.update(chunk)
                    member.write(chunk)
            sums[name] = digest.hexdigest()
        manifest = "".join(f"{sums[name]}  {name}\n" for name in sorted(sums)).encode("ascii")
        pack.writestr(SUMS, manifest)
        pack.writestr(SIGNATURE, key.sign(manifest))


def pack_bytes(key: Ed25519PrivateKey, files: Iterable[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    write_pack(buffer, key, [(name, [data]) for name, data in files])
    return buffer.getvalue()


# Verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackReport:
    files: int
    entries: int
    problems: list[str]


def _manifest(text: str) -> dict[str, str]:
    sums = {}
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        sums[name] = digest
    return sums


def verify_pack(source: IO[bytes] | str, public_key: Ed25519PublicKey) -> PackReport:
    """Everything an auditor checks: the manifest's signature, each file against it, each
    ledger entry's hash, the checkpoint's signature, and every record of evidence.json against
    its ledger entries (and back). Problems are listed, not raised."""
    try:
        pack = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        return PackReport(0, 0, [f"not a readable ZIP file: {error}"])
    with pack:
        names = set(pack.namelist())
        if not {SUMS, SIGNATURE} <= names:
            return PackReport(0, 0, [f"{SUMS} or {SIGNATURE} is missing"])
        manifest = pack.read(SUMS)
        problems: list[str] = []
        try:
            public_key.verify(pack.read(SIGNATURE), manifest)
        except InvalidSignature:
            problems.append(f"{SUMS} is not signed by this public key")
        sums = _manifest(manifest.decode("ascii", errors="replace"))
        for name in sorted(names - set(sums) - {SUMS, SIGNATURE}):
            problems.append(f"{name} is not in {SUMS}")
        for name, digest in sorted(sums.items()):
            if name not in names:
                problems.append(f"{name} is listed in {SUMS} but missing")
            elif hashlib.sha256(pack.read(name)).hexdigest() != digest:
                problems.append(f"{name} does not match its sha256 in {SUMS}")
        if PUBLIC_KEY in names and pack.read(PUBLIC_KEY).decode(errors="replace").strip() != (
            keys.public_pem(public_key).strip()
        ):
            problems.append(f"{PUBLIC_KEY} in the pack is not the key you gave")
        entries = 0
        if LEDGER in names:
            entries, ledger_problems = _check_ledger(pack.read(LEDGER), public_key)
            problems += ledger_problems
            if not ledger_problems:
                document = json.loads(pack.read(LEDGER))
                if EVIDENCE in names:
                    problems += evidence_problems(pack.read(EVIDENCE), document)
                for name in sorted(n for n in names if n.startswith(COMPLETIONS)):
                    problems += completions_problems(name, pack.read(name), document)
        return PackReport(len(sums), entries, problems)


def _check_ledger(data: bytes, public_key: Ed25519PublicKey) -> tuple[int, list[str]]:
    try:
        document = json.loads(data)
        entries = document["entries"]
        checkpoint = document["checkpoint"]
    except (ValueError, KeyError, TypeError) as error:
        return 0, [f"{LEDGER} cannot be read: {error}"]
    problems = []
    for entry in entries:
        values = tuple(entry.get(name) for name in ledger.FIELDS)
        try:
            recomputed = ledger.entry_hash(values)
        except ValueError:
            recomputed = None
        if recomputed != entry.get("hash"):
            problems.append(f"{LEDGER}: entry {entry.get('seq')} does not match its hash")
    if checkpoint is None:
        if entries:
            problems.append(f"{LEDGER} has entries but no signed checkpoint")
        return len(entries), problems
    signed = checkpoints.message(checkpoint["seq"], checkpoint["head_hash"], checkpoint["at"])
    if not keys.signature_ok(public_key, signed, checkpoint["signature"]):
        problems.append(f"{LEDGER}: the checkpoint is not signed by this public key")
    late = [entry["seq"] for entry in entries if entry["seq"] > checkpoint["seq"]]
    if late:
        problems.append(
            f"{LEDGER}: entries {late} came after the checkpoint (up to {checkpoint['seq']}); "
            "export again after the next checkpoint to have them covered"
        )
    return len(entries), problems
