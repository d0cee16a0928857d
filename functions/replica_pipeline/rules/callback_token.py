"""The secret token that authenticates Tavus's callback for one submission.

Tavus signs nothing, so the callback URL we hand it carries
``?submission=<submission_id>&token=HMAC-SHA256(key, submission_id)``; only
someone who saw that URL can post a callback for that submission, and the
handler finds the submission without waiting for any index.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode, urlsplit, urlunsplit

TOKEN_PARAMETER = "token"  # nosec B105 # noqa: S105 - a query parameter name, not a secret
SUBMISSION_PARAMETER = "submission"


def callback_token(submission_id: str, key: bytes) -> str:
    return hmac.new(key, submission_id.encode("utf-8"), hashlib.sha256).hexdigest()


def token_matches(submission_id: str, token: str, key: bytes) -> bool:
    """Constant-time comparison, so timing tells an attacker nothing."""
    return hmac.compare_digest(callback_token(submission_id, key), token)


def callback_url(base_url: str, submission_id: str, key: bytes) -> str:
    parts = urlsplit(base_url)
    extra = urlencode(
        {SUBMISSION_PARAMETER: submission_id, TOKEN_PARAMETER: callback_token(submission_id, key)}
    )
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))
