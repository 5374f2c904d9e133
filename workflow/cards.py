"""What departments and dispatchers see of a case: the card, with the resident's privacy kept."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str:
    if not phone:
        return "—"
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"
