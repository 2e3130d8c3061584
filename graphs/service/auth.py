"""Bearer tokens → identities, and who may do what.

Tokens are compared as SHA-256 digests with hmac.compare_digest against every entry (no early
exit), so neither the comparison nor the loop tells an attacker how close a guess was.

Roles: `viewer` reads; `alerts` also posts alerts (Alertmanager, EventBridge); `operator` also
decides YELLOW actions; `admin` all of that, and RED actions when the runbook names no approvers.
A runbook's approver list names identities or roles; only those on it may decide its RED actions.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel

from graphs.service.config import Identity, TokenEntry

# graphs.builder puts this in an approval request when the runbook lists no approvers.
NO_APPROVER_LIST = "any operator"
ALERT_ROLES = frozenset({"alerts", "operator", "admin"})
DECIDE_ROLES = frozenset({"operator", "admin"})


class Permission(BaseModel):
    allowed: bool
    reason: str = ""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_for(token: str) -> str:
    """The form field a page post must carry: derived from the session token, unknown to other sites."""
    return hashlib.sha256(b"sopgraph-csrf\0" + token.encode("utf-8")).hexdigest()


class Authenticator:
    def __init__(self, entries: list[TokenEntry]):
        self._entries: list[tuple[bytes, Identity]] = []
        for e in entries:
            digest = e.token_sha256 or token_digest(e.token.get_secret_value() if e.token else "")
            self._entries.append((digest.encode("ascii"), e.identity))

    @property
    def configured(self) -> bool:
        return bool(self._entries)

    def identify(self, token: str | None) -> Identity | None:
        if not token:
            return None
        probe = token_digest(token).encode("ascii")
        found: Identity | None = None
        for digest, identity in self._entries:
            if hmac.compare_digest(probe, digest) and found is None:
                found = identity
        return found


def may_post_alerts(identity: Identity) -> Permission:
    if ALERT_ROLES & set(identity.roles):
        return Permission(allowed=True)
    return Permission(allowed=False, reason=f"{identity.name} may not post alerts (needs role alerts, operator or admin)")


def on_list(identity: Identity, approvers: list[str]) -> bool:
    names = {identity.name.casefold(), *(r.casefold() for r in identity.roles)}
    return any(a.strip().casefold() in names for a in approvers)


def may_decide(identity: Identity, rating: str, approvers: list[str]) -> Permission:
    """RED: on the runbook's approver list (admin when it is empty). Anything else: operator or admin,
    or on the list."""
    listed = [a for a in approvers if a.strip() and a.strip() != NO_APPROVER_LIST]
    if rating.upper() == "RED":
        if listed:
            if on_list(identity, listed):
                return Permission(allowed=True)
            return Permission(allowed=False, reason=f"{identity.name} is not on the runbook's approver list "
                                                    f"({', '.join(listed)}) for RED actions")
        if "admin" in identity.roles:
            return Permission(allowed=True)
        return Permission(allowed=False, reason=f"the runbook names no approvers, so RED actions need an admin; "
                                                f"{identity.name} is not one")
    if DECIDE_ROLES & set(identity.roles) or (listed and on_list(identity, listed)):
        return Permission(allowed=True)
    return Permission(allowed=False, reason=f"{identity.name} may not decide approvals (needs role operator or admin)")
